"""The pipeline of issue 21 (openmmvae.apps.pipeline: MD -> VAE -> metadynamics along its latent -> VAE
-> VAE-MC + MD against plain MD) and its metrics (openmmvae.apps.hybrid)."""

import json
import math

import numpy as np
import pytest


from openmmvae.apps import alanine_dipeptide, hybrid, pipeline


def _summary(transitions, cpu, error):
    return {"alpha_R_transitions": transitions, "cpu_seconds": cpu,
            "alpha_R_transitions_per_cpu_second": transitions / cpu,
            "alpha_R_error_squared_times_cpu": error * error * cpu,
            "populations": {"alpha_R": {"value": 0.1, "error": error}}}


def test_efficiency_ratios_charge_the_model_to_the_hybrid():
    md, fast = _summary(10, 10.0, 0.02), _summary(100, 10.0, 0.002)
    production = hybrid.efficiency_ratios(fast, md)
    assert production["alpha_R_transitions_per_cpu_second"] == pytest.approx(10.0)
    assert production["alpha_R_efficiency"] == pytest.approx(100.0)
    # charged 90 CPU s more, the hybrid's 100 transitions took 100 s: MD's rate; its error^2 x time 10x larger
    whole = hybrid.efficiency_ratios(fast, md, extra_cpu_seconds=90.0)
    assert whole["alpha_R_transitions_per_cpu_second"] == pytest.approx(1.0)
    assert whole["alpha_R_efficiency"] == pytest.approx(10.0)


def test_alpha_r_transitions_count_core_to_core_visits():
    # C7eq core, between cores, alpha_R core, C5 core, alpha_R, alpha_L (not counted here), alpha_R
    phi = np.array([-80, -80, -80, -150, -80, 60, -80], dtype=float)
    psi = np.array([70, 20, -40, 160, -40, 40, -40], dtype=float)
    counts = hybrid.alpha_r_transitions(phi, psi)
    assert counts == {"C7eq<->alpha_R": 1, "C5<->alpha_R": 2}


def test_error_versus_cpu_uses_growing_prefixes():
    rng = np.random.default_rng(3)
    n = 4000
    phi = np.full(n, -80.0)
    psi = np.where(rng.random(n) < 0.2, -40.0, 70.0)  # independent frames, alpha_R population 0.2
    frames = hybrid.Frames(phi, psi, np.linspace(0.01, 40.0, n), 0, 40.0)
    cpu, errors = hybrid.error_versus_cpu(frames, points=8)
    assert np.all(np.diff(cpu) > 0) and cpu[-1] == pytest.approx(40.0)
    # independent samples: error ~ sqrt(p (1 - p) / n), within the scatter of 20 block means
    assert errors[-1] == pytest.approx(math.sqrt(0.2 * 0.8 / n), rel=0.5)
    assert errors[-1] < errors[0]


def test_implicit_solvent_system():
    forces = [type(f).__name__ for f in alanine_dipeptide.create_system(solvent="obc2").getForces()]
    assert "GBSAOBCForce" in forces
    assert "GBSAOBCForce" not in [type(f).__name__ for f in alanine_dipeptide.create_system().getForces()]
    with pytest.raises(ValueError, match="solvent must be one of vacuum, obc2"):
        alanine_dipeptide.create_system(solvent="tip3p")


@pytest.mark.training
def test_quick_pipeline_runs_every_stage_and_resumes(tmp_path, capsys):
    from openmmvae.apps import simulate
    reference = tmp_path / "reference"
    simulate.simulate(str(reference), frames=400, interval=50, equilibrate=100, plot=False, progress=False)
    out = tmp_path / "pipeline"
    assert pipeline.main(["--out", str(out), "--quick", "--quiet", "--reference", str(reference)]) == 0
    record = json.loads((out / "pipeline.json").read_text())
    assert list(record["stages"]) == list(pipeline.STAGES)
    for name, stage in record["stages"].items():
        assert stage["cpu_seconds"] > 0, name
    assert record["stages"]["retrain"]["frames"] == record["stages"]["data"]["frames"] + record["stages"]["enrich"]["frames"]
    assert record["stages"]["enrich"]["hills"] > 0
    production = record["stages"]["production"]
    run = production["runs"][0]
    assert run["hybrid"]["moves_attempted"] > 0 and 0 <= run["hybrid"]["acceptance"] <= 1
    assert set(run["hybrid"]["z_vs_reference"]) == {"C7eq", "C5", "alpha_R", "alpha_L"}
    made = production["summary"]["model_cpu_seconds"]
    assert made == pytest.approx(sum(record["stages"][k]["cpu_seconds"] for k in pipeline.STAGES[:4]))
    for name in ("ramachandran.png", "error_vs_cpu.png", "free_energy_latent.png", "retrain/beta-1/model.pt"):
        assert (out / name).stat().st_size > 0, name
    # a second run finds every stage done and only reports
    before = (out / "pipeline.json").read_text()
    capsys.readouterr()
    assert pipeline.main(["--out", str(out), "--quick", "--quiet"]) == 0
    assert json.loads((out / "pipeline.json").read_text())["stages"] == json.loads(before)["stages"]
    assert "hybrid / MD, production" in capsys.readouterr().out
    # other production settings redo the production only, with the same model
    assert pipeline.main(["--out", str(out), "--quick", "--quiet", "--runs", "2", "--cpu-seconds", "2"]) == 0
    again = json.loads((out / "pipeline.json").read_text())
    assert len(again["stages"]["production"]["runs"]) == 2
    assert {k: again["stages"][k] for k in pipeline.STAGES[:4]} == {k: record["stages"][k] for k in pipeline.STAGES[:4]}
    # other settings of the model's stages are refused, naming what differs
    with pytest.raises(SystemExit, match="epochs 2 -> 3"):
        pipeline.main(["--out", str(out), "--quick", "--quiet", "--epochs", "3"])
    # a second enrichment round along the retrained VAE's latent extends the model
    assert pipeline.main(["--out", str(out), "--quick", "--quiet", "--enrich-rounds", "2", "--cpu-seconds", "2"]) == 0
    extended = json.loads((out / "pipeline.json").read_text())
    assert pipeline.model_stages(2) == ["data", "train", "enrich", "retrain", "enrich-2", "retrain-2"]
    assert {k: extended["stages"][k] for k in pipeline.STAGES[:4]} == {k: record["stages"][k] for k in pipeline.STAGES[:4]}
    assert extended["stages"]["retrain-2"]["frames"] == (record["stages"]["retrain"]["frames"] +
                                                         extended["stages"]["enrich-2"]["frames"])
    assert extended["stages"]["production"]["summary"]["model_cpu_seconds"] == pytest.approx(
        sum(extended["stages"][k]["cpu_seconds"] for k in pipeline.model_stages(2)))
    with pytest.raises(SystemExit, match="enrich_rounds 2 -> 1"):
        pipeline.main(["--out", str(out), "--quick", "--quiet", "--enrich-rounds", "1"])
