"""openmmvae.VAEMCIntegrator from Python: inside openmm.app.Simulation, unit quantities, seeds,
deepcopy through XML, bad input (with Python's torch imported, so the GIL release is exercised)."""

import copy
import math
import pickle

import numpy as np
import pytest

import openmm
import openmm.app
import openmmvae
from openmm import unit
from openmmvae.apps.mueller import START, mueller_system, one_atom_topology  # the particle of science.md section 4
from conftest import MUELLER_TEST_BUNDLE, train_bundle

TEMPERATURE = 300.0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A Mueller bundle (xy features of atom 0, condind decoder, L = 1) trained for 3 epochs."""
    return train_bundle(tmp_path_factory.mktemp("integrator_bundle"), MUELLER_TEST_BUNDLE)


def test_simulation_with_units(bundle):
    integrator = openmmvae.VAEMCIntegrator(TEMPERATURE * unit.kelvin, 5.0 / unit.picosecond, 4.0 * unit.femtosecond,
                                           bundle, stepsBetweenMoves=20, movesPerAttempt=2)
    # openmm's LangevinMiddleIntegrator getters (inherited) return quantities
    assert integrator.getTemperature().value_in_unit(unit.kelvin) == pytest.approx(TEMPERATURE)
    assert integrator.getStepSize().value_in_unit(unit.picosecond) == pytest.approx(0.004)
    assert integrator.getFriction().value_in_unit(unit.picosecond ** -1) == pytest.approx(5.0)
    assert integrator.getStepsBetweenMoves() == 20 and integrator.getMovesPerAttempt() == 2
    assert integrator.getFeatureKind() == "xy" and integrator.getAtoms() == [0]
    integrator.setMoveRandomNumberSeed(3)
    simulation = openmm.app.Simulation(one_atom_topology(), mueller_system(TEMPERATURE), integrator,
                                       openmm.Platform.getPlatformByName("Reference"))
    simulation.context.setPositions([START])
    simulation.context.setVelocitiesToTemperature(TEMPERATURE)
    simulation.step(200)
    assert integrator.getNumAttempted() == 20
    assert 0 < integrator.getNumAccepted() <= 20
    assert 0 < integrator.getAcceptanceRate() <= 1
    integrator.attemptMoves(10)
    assert integrator.getNumAttempted() == 30
    means, stds = integrator.getTermMeans(), integrator.getTermStds()
    assert len(means) == len(stds) == len(openmmvae.VAEMCIntegrator.getTermNames()) == 5
    assert all(math.isfinite(v) for v in means + stds)
    state = simulation.context.getState(getPositions=True, getEnergy=True)
    assert np.all(np.isfinite(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)))
    assert math.isfinite(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))


def run(integrator, steps=60, moves=10):
    context = openmm.Context(mueller_system(TEMPERATURE), integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions([START])
    context.setVelocitiesToTemperature(TEMPERATURE, 5)
    integrator.step(steps)
    integrator.attemptMoves(moves)
    return context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def test_seed_and_deepcopy_reproduce_the_run(bundle):
    with open(bundle, "rb") as f:
        model_bytes = f.read()
    a = openmmvae.VAEMCIntegrator(TEMPERATURE, 5.0, 0.004, model_bytes, 10, 1)  # bytes work as well as a path
    a.setRandomNumberSeed(2)
    a.setMoveRandomNumberSeed(7)
    a.setProposalBatchSize(6)
    b = copy.deepcopy(a)
    assert isinstance(b, openmmvae.VAEMCIntegrator)
    unpickled = pickle.loads(pickle.dumps(a))
    assert isinstance(unpickled, openmmvae.VAEMCIntegrator) and unpickled.getMoveRandomNumberSeed() == 7
    assert b.getMoveRandomNumberSeed() == 7 and b.getRandomNumberSeed() == 2 and b.getStepsBetweenMoves() == 10
    assert b.getModelBytes() == model_bytes
    assert b.getProposalBatchSize() == unpickled.getProposalBatchSize() == 6
    c = openmmvae.VAEMCIntegrator(TEMPERATURE, 5.0, 0.004, model_bytes, 10, 1)
    c.setProposalBatchSize(6)
    c.setRandomNumberSeed(2)
    c.setMoveRandomNumberSeed(8)
    pa, pb, pc, pu = (run(i, moves=40) for i in (a, b, c, unpickled))
    assert np.array_equal(pa, pb) and np.array_equal(pa, pu)
    assert a.getNumAccepted() == b.getNumAccepted() > 0
    assert not np.array_equal(pa, pc)
    generic = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(a))
    assert openmmvae.VAEMCIntegrator.cast(generic).getMovesPerAttempt() == 1
    with pytest.raises(openmm.OpenMMException, match="not a VAEPlugin::VAEMCIntegrator"):
        openmmvae.VAEMCIntegrator.cast(openmm.VerletIntegrator(0.001))


def test_bad_input(bundle):
    with pytest.raises(openmm.OpenMMException, match="emperature"):
        openmmvae.VAEMCIntegrator(-1.0, 1.0, 0.002, bundle)
    with pytest.raises(openmm.OpenMMException, match="stepsBetweenMoves"):
        openmmvae.VAEMCIntegrator(TEMPERATURE, 1.0, 0.002, bundle, 0)
    with pytest.raises(openmm.OpenMMException, match="movesPerAttempt"):
        openmmvae.VAEMCIntegrator(TEMPERATURE, 1.0, 0.002, bundle, 10, -1)
    integrator = openmmvae.VAEMCIntegrator(TEMPERATURE, 1.0, 0.002, bundle)
    with pytest.raises(openmm.OpenMMException, match="batch size must be >= 1, got 0"):
        integrator.setProposalBatchSize(0)
    with pytest.raises(openmm.OpenMMException, match="not bound"):
        integrator.attemptMoves(1)
    context = openmm.Context(mueller_system(TEMPERATURE), integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions([openmm.Vec3(float("nan"), 0.0, 0.0)])
    with pytest.raises(openmm.OpenMMException, match="particle 0"):
        integrator.attemptMoves(1)
    with pytest.raises(openmm.OpenMMException, match="-3"):
        integrator.attemptMoves(-3)
    context.setPositions([START])  # the Context is still usable
    integrator.attemptMoves(5)
    assert integrator.getNumAttempted() == 5


def test_move_kinds_and_their_statistics(bundle):
    integrator = openmmvae.VAEMCIntegrator(TEMPERATURE, 5.0, 0.004, bundle, 10, 1)
    assert openmmvae.VAEMCIntegrator.getMoveKindNames() == ["full", "torsion"]
    assert integrator.getFullMoveProbability() == 1.0 and integrator.getTorsionMoveProbability() == 0.0
    with pytest.raises(openmm.OpenMMException, match="bat features"):
        integrator.setMoveProbabilities(0.5, 0.5)  # an xy bundle has no torsions
    with pytest.raises(openmm.OpenMMException, match="positive sum"):
        integrator.setMoveProbabilities(0.0, 0.0)
    integrator.setMoveProbabilities(2.0, 0.0)
    assert integrator.getFullMoveProbability() == 1.0
    integrator.setMoveRandomNumberSeed(3)
    run(integrator, steps=0, moves=25)
    assert integrator.getNumAttempted("full") == integrator.getNumAttempted() == 25
    assert integrator.getNumAccepted("full") == integrator.getNumAccepted() > 0
    assert integrator.getNumAttempted("torsion") == 0 and integrator.getAcceptanceRate("torsion") == 0.0
    assert integrator.getTermMeans("full") == integrator.getTermMeans()
    assert len(integrator.getTermStds("torsion")) == 5
    with pytest.raises(openmm.OpenMMException, match="rotation"):
        integrator.getNumAttempted("rotation")
    copied = copy.deepcopy(integrator)
    assert copied.getFullMoveProbability() == 1.0 and copied.getTorsionMoveProbability() == 0.0
