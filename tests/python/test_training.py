"""The Python API of the trainer (openmmvae.train / sweep / TrainingResult): train, inspect and sample
from Python only, with the C++ trainer running in this process (no subprocess of openmm-vae)."""

import json
import os
import signal
import threading

import numpy as np
import pytest

import openmm
import openmm.app as app
import openmmvae
from openmm import unit
from openmmvae.apps import alanine_dipeptide

training = pytest.importorskip("openmmvae._trainer", reason="openmmvae built without its trainer")
pytestmark = pytest.mark.training

SMALL = dict(samples=3000, decoder="autoregressive", hidden=20, flow_hidden=8, batch=128, learning_rate=1e-3,
             threads=1, progress=False)


@pytest.fixture(scope="module")
def alanine_frames():
    """300 frames of 300 K Langevin dynamics of alanine dipeptide (Reference), [frames, 22, 3] nm."""
    simulation = alanine_dipeptide.create_simulation(alanine_dipeptide.create_system("hbonds"), seed=5)
    simulation.minimizeEnergy()
    simulation.step(500)
    frames = []
    for _ in range(300):
        simulation.step(20)
        frames.append(simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(
            unit.nanometer))
    return np.array(frames)


def test_train_inspect_and_sample_a_molecule_from_python(tmp_path, alanine_frames):
    # Positions as a NumPy array with an OpenMM Topology; features default to bat for trajectories.
    epochs = []
    result = openmmvae.train(tmp_path / "ala", trajectory=alanine_frames, topology=alanine_dipeptide.topology(),
                             temperature=300, decoder="condind", latent=1, betas=[1], epochs=4, anneal=2,
                             learning_rate=1e-3, threads=1, progress="lines", on_epoch=epochs.append)
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4] and epochs[-1]["run_epochs_done"] == 4
    assert all(np.isfinite(e["loss"]) for e in epochs)
    with open(os.path.join(result.out, "beta-1", "config.json")) as f:
        config = json.load(f)
    assert config["features"] == "bat" and config["temperature"] == 300
    losses = result.losses()
    assert list(losses["epoch"]) == [0, 1, 2, 3] and losses["val_total"].shape == (4,)
    np.testing.assert_allclose(losses["total"], [e["loss"] for e in epochs])

    system = alanine_dipeptide.create_system("hbonds")
    metrics = result.metrics(system=system, chains=2, moves=5)
    for key in ("jd_encode_total", "active_dims", "jd_prior", "total_correlation", "f_acc"):
        assert key in metrics and metrics[key] is not None, key
    assert metrics["n_moves"] == 10 and 0.0 <= metrics["f_acc"] <= 1.0
    data, z = result.latents()
    assert data.shape[0] == z.shape[0] > 100 and z.shape[1] == 1
    result.plotLatent(path=str(tmp_path / "latent.png"))
    result.plotLosses(path=str(tmp_path / "losses.png"))
    for name in ("latent.png", "losses.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"

    # Sampling with the bundle: a VAECVForce restraint and a VAE-MC integrator, both from Python.
    force = openmmvae.VAECVForce(result.bundle())
    force.useHarmonicRestraint([float(np.median(z))], [50.0])
    system.addForce(force)
    integrator = openmmvae.VAEMCIntegrator(300, 1, 0.002, result.bundle(), 10, 1)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(alanine_frames[-1])
    context.applyConstraints(1e-8)
    integrator.step(50)
    assert integrator.getNumAttempted() == 5
    assert np.isfinite(context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))


def test_positions_from_files_and_a_pdb_path(tmp_path, alanine_frames):
    # The same data as a .npy file with a PDB path train as well, and explicit features win over the default.
    np.save(tmp_path / "frames.npy", alanine_frames.astype(np.float32))
    with open(tmp_path / "ala.pdb", "w") as f:
        app.PDBFile.writeFile(alanine_dipeptide.topology(), alanine_frames[0] * unit.nanometer, f)
    result = openmmvae.train(tmp_path / "cart", trajectory=str(tmp_path / "frames.npy"), topology=str(tmp_path / "ala.pdb"),
                             features="cartesian", atoms="heavy", betas=[1], epochs=1, anneal=1, threads=1,
                             progress=False)
    with open(os.path.join(result.out, "beta-1", "config.json")) as f:
        assert json.load(f)["features"] == "cartesian"
    metrics = result.metrics()
    assert metrics["f_acc"] is None and metrics["samples"] == 300


def test_built_in_system_metrics_and_the_bar(tmp_path):
    result = openmmvae.train(tmp_path / "m", system="mueller", betas=[0, 1], epochs=2, anneal=2, prior_epochs=1,
                             **dict(SMALL, progress="bar"))
    assert result.betas == ["0", "1"] and set(result.bundles) == {"0", "1"}
    assert "loss" in result.losses(0, prior=True)
    metrics = result.metrics(chains=20, moves=20)
    assert metrics["n_moves"] == 400 and 0 <= metrics["f_acc"] <= 1
    fig = result.plotLatent()
    assert len(fig.axes) >= 2  # 2-D data: the latent histogram and the data coloured by z0


def test_options_and_errors(tmp_path):
    with pytest.raises(TypeError, match="learning_rate"):
        openmmvae.train(tmp_path / "x", system="mueller", learningrate=1e-3, progress=False)
    with pytest.raises(openmmvae.TrainingError, match="--decoder: unknown decoder 'nonsense'"):
        openmmvae.train(tmp_path / "x", system="mueller", decoder="nonsense", progress=False)
    with pytest.raises(ValueError, match="exactly one"):
        openmmvae.train(tmp_path / "x", progress=False)
    with pytest.raises(openmmvae.TrainingError, match="--workers 2"):
        openmmvae.sweep(tmp_path / "s", "mueller", workers=2, progress=False)
    names = {o["name"] for o in openmmvae.trainOptions()}
    assert {"learning-rate", "betas", "features", "micro-batches"} <= names


def test_interrupt_leaves_a_resumable_checkpoint(tmp_path):
    # Ctrl-C arrives while the C++ trainer runs epoch 3: the run stops at the epoch 2 checkpoint, and
    # resume=True ends with the same losses as an uninterrupted run.
    options = dict(SMALL, samples=20000, betas=[1], epochs=6, anneal=2)

    def interrupt_soon(progress):
        if progress["run_epochs_done"] == 2:
            threading.Timer(0.02, os.kill, (os.getpid(), signal.SIGINT)).start()

    with pytest.raises(KeyboardInterrupt, match="resume=True"):
        openmmvae.train(tmp_path / "run", system="mueller", on_epoch=interrupt_soon, **options)
    assert os.path.exists(tmp_path / "run" / "checkpoint.pt")
    done = []
    openmmvae.train(tmp_path / "run", system="mueller", resume=True, on_epoch=done.append, **options)
    assert done and done[0]["epoch"] >= 3 and done[-1]["epoch"] == 6
    openmmvae.train(tmp_path / "plain", system="mueller", **options)
    assert (tmp_path / "run" / "beta-1" / "losses.csv").read_text() == \
        (tmp_path / "plain" / "beta-1" / "losses.csv").read_text()


def test_an_exception_of_the_callback_stops_the_run(tmp_path):
    class Enough(Exception):
        pass

    def stop(progress):
        if progress["epoch"] == 2:
            raise Enough()

    with pytest.raises(Enough):
        openmmvae.train(tmp_path / "run", system="mueller", betas=[1], epochs=5, anneal=2, on_epoch=stop, **SMALL)
    assert os.path.exists(tmp_path / "run" / "checkpoint.pt")


def test_sweep_from_python(tmp_path):
    result = openmmvae.sweep(tmp_path / "sweep", "mueller", decoders=["mse"], replicas=1, betas=[1], epochs=1,
                             anneal=1, samples=2000, hidden=10, chains=10, moves=10, no_plots=True, progress=False)
    assert len(result.table) == 1 and result.table[0]["decoder"] == "mse"
    assert os.path.exists(result.bundle("mse", 1))
