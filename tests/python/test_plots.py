"""openmmvae.apps.plots on a synthetic sweep folder (the layout `openmm-vae sweep` writes): valid PNG files
for L = 1 and L = 2 and for (r, theta) data, the table reader, and a clear error for a wrong folder.
The real command's output is plotted in tests/trainer/cli/sweep_cli_test.sh."""

import json
import os

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from openmmvae.apps import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_sweep(out, system, latent, decoders=("mse", "flow"), betas=("0", "1"), replicas=2):
    os.makedirs(out)
    with open(os.path.join(out, "sweep.json"), "w") as f:
        json.dump({"system": system, "decoders": list(decoders), "betas": list(betas), "replicas": replicas}, f)
    quantities = [q for q, _, _ in plots.METRICS] + ["loss_recon"]
    rng = np.random.default_rng(1)
    with open(os.path.join(out, "table.csv"), "w") as f:
        f.write("decoder,beta,replicas," + ",".join("%s_mean,%s_std" % (q, q) for q in quantities) + "\n")
        for d in decoders:
            for b in betas:
                # one missing standard deviation (a single replica) must not break the plot
                f.write("%s,%s,%d,%s\n" % (d, b, replicas, ",".join("%g,%s" % (rng.random(), "" if b == "0" else
                                                                                   "%g" % rng.random())
                                                                    for _ in quantities)))
                for r in range(replicas):
                    bundle = os.path.join(out, d, "replica-%d" % r, "beta-%s" % b)
                    os.makedirs(bundle)
                    data = rng.normal(size=(300, 2))
                    if system.endswith("rtheta"):
                        data[:, 0] = np.abs(data[:, 0]) + 1.0
                    np.save(os.path.join(bundle, "data.npy"), data)
                    np.save(os.path.join(bundle, "latent_mean.npy"), data[:, :latent] * float(b))
                    open(os.path.join(out, d, "replica-%d" % r, "done.json"), "w").write("{}")
    return out


@pytest.mark.parametrize("system,latent", [("mueller", 1), ("beltway-rtheta", 1), ("gaussian", 2)])
def test_sweep_figures_are_png(tmp_path, system, latent):
    out = fake_sweep(str(tmp_path / "sweep"), system, latent)
    paths = plots.plot_sweep(out, dpi=40)
    assert [os.path.basename(p) for p in paths] == ["metrics_vs_beta.png", "latent_histograms.png",
                                                    "latent_colouring.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == PNG_MAGIC, p


def test_read_table_parses_missing_std_as_nan(tmp_path):
    out = fake_sweep(str(tmp_path / "sweep"), "mueller", 1)
    rows = plots.read_table(os.path.join(out, "table.csv"))
    assert [(r["decoder"], r["beta"]) for r in rows] == [("mse", "0"), ("mse", "1"), ("flow", "0"), ("flow", "1")]
    assert np.isnan(rows[0]["f_acc_std"]) and np.isfinite(rows[1]["f_acc_std"])
    assert rows[0]["replicas"] == 2


def test_cli_reports_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    assert plots.main(["sweep", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "sweep.json" in err and str(tmp_path) in err


def test_count_populations():
    rng = np.random.default_rng(3)
    centres = lambda c: np.concatenate([rng.normal(m, 0.3, 2000) for m in c])
    assert plots.count_populations(rng.normal(0, 1, 8000)) == 1
    assert plots.count_populations(centres([-3, 3])) == 2
    assert plots.count_populations(centres([-6, -2, 2, 6])) == 4
    assert plots.count_populations(np.concatenate([centres([-3, 3]), rng.normal(9, 0.3, 300)])) == 3
    assert plots.count_populations(np.zeros(100)) == 1


def test_radial_correlation():
    rng = np.random.default_rng(4)
    theta = rng.uniform(-np.pi, np.pi, 3000)
    r = rng.uniform(0.5, 2.0, 3000)
    xy = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    rtheta = np.stack([r, theta], axis=1)
    assert plots.radial_correlation("beltway-xy", xy, -2.0 * r[:, None]) == pytest.approx(1.0)
    assert plots.radial_correlation("beltway-rtheta", rtheta, (r ** 3)[:, None]) == pytest.approx(1.0)
    assert plots.radial_correlation("beltway-rtheta", rtheta, theta[:, None]) < 0.1


def test_summary_skips_unfinished_jobs(tmp_path):
    out = fake_sweep(str(tmp_path / "sweep"), "beltway-xy", 1)
    os.remove(os.path.join(out, "flow", "replica-1", "done.json"))
    rows = plots.summarize_sweep(out)
    assert len(rows) == 2 * 2 * 2 - 2
    assert not any(r["decoder"] == "flow" and r["replica"] == 1 for r in rows)
