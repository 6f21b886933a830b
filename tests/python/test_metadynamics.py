"""VAECVForce in GridBias mode from Python and openmmvae.LatentMetadynamics: the bias is the grid's
interpolation, updates reach a running Context, well-tempered metadynamics on the Mueller particle
recovers the exact free energy along a trained 1-D latent, restart files reproduce the bias exactly,
and it runs under VAEMCIntegrator."""

import copy
import math
import os
import pickle

import numpy as np
import pytest

import openmm
import openmm.app
import openmmvae
from openmm import unit
from openmmvae.apps import mueller
from openmmvae.metadynamics import LatentMetadynamics

from conftest import analytic_bytes
from test_mueller import train_mueller_bundle

# The Mueller System is built for 300 K and simulated at 600 K, where its barriers (~4 kT) let a CI-sized
# run converge; the exact F along z is computed at the same temperature.
TEMPERATURE = 600.0


def energy(context):
    return context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    # 20 epochs (~20 s): the 3-epoch latent of test_mueller leaves a slow direction orthogonal to z.
    return train_mueller_bundle(tmp_path_factory.mktemp("metadynamics_bundle"), epochs=20)


def test_grid_bias_energy_update_and_copies():
    system = openmm.System()
    for _ in range(3):
        system.addParticle(1.0)
    force = openmmvae.VAECVForce(analytic_bytes())
    grid = openmmvae.LatentGrid([0.0, -1.0], [2.0, 3.0], [21, 25], [False, False])
    grid.addGaussian([0.7, 0.5], [0.3, 0.5], 5.0)
    force.useGridBias(grid)
    assert force.getEnergyMode() == force.GridBias
    assert "GridBias" in repr(force)
    system.addForce(force)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(0.4, 0.1, 0), openmm.Vec3(0.2, 0.5, 0.1)])
    z = force.getCollectiveVariableValues(context)
    assert energy(context) == pytest.approx(grid.evaluate(z)[0], abs=1e-10)
    before = force.getNumModelEvaluationsInContext(context)
    context.getState(getForces=True, getEnergy=True)
    assert force.getNumModelEvaluationsInContext(context) == before + 1
    grid.addGaussian(z, [0.3, 0.5], 2.0)
    force.useGridBias(grid)
    force.updateParametersInContext(context)
    assert energy(context) == pytest.approx(grid.evaluate(z)[0], abs=1e-10)
    for other in (copy.deepcopy(force), pickle.loads(pickle.dumps(force))):
        assert other.getGridBias().getValues() == grid.getValues()
    wrong = openmmvae.LatentGrid([0.0, -1.0], [2.0, 3.0], [21, 26], [False, False])
    force.useGridBias(wrong)
    with pytest.raises(openmm.OpenMMException, match="grid geometry"):
        force.updateParametersInContext(context)


def mueller_simulation(bundle, seed, integrator=None, temperature=TEMPERATURE):
    system = mueller.mueller_system(300.0)
    meta = LatentMetadynamics(system, bundle, ([-4.0], [4.0], [161], [False]), sigma=[0.05], height=1.0,
                              biasFactor=8.0, temperature=temperature, frequency=100)
    if integrator is None:
        integrator = openmm.LangevinMiddleIntegrator(temperature, 5.0, 0.005)
        integrator.setRandomNumberSeed(seed)
    simulation = openmm.app.Simulation(mueller.one_atom_topology(), system, integrator,
                                       openmm.Platform.getPlatformByName("Reference"))
    simulation.context.setPositions([mueller.START])
    simulation.context.setVelocitiesToTemperature(temperature, seed)
    return meta, simulation


def test_restart_files_reproduce_the_bias_exactly(bundle, tmp_path):
    meta, simulation = mueller_simulation(bundle, seed=3)
    meta.step(simulation, 2000)
    assert meta.numHills == 20
    path = str(tmp_path / "bias.npz")
    meta.saveBias(path)
    restarted, simulation2 = mueller_simulation(bundle, seed=4)
    restarted.loadBias(path, simulation2)
    assert restarted.numHills == 20
    assert restarted.getGrid().getValues() == meta.getGrid().getValues()  # bit for bit
    simulation2.context.setState(simulation.context.getState(getPositions=True))
    assert energy(simulation2.context) - energy(simulation.context) == 0.0
    # both continue identically from the same bias: one more hill at the same z gives the same grid
    z = meta.getCollectiveVariables(simulation)
    assert restarted.getCollectiveVariables(simulation2) == z
    meta._deposit(z)
    restarted._deposit(z)
    assert restarted.getGrid().getValues() == meta.getGrid().getValues()
    # a restart file of another grid is refused
    other = LatentMetadynamics(mueller.mueller_system(300.0), bundle, ([-4.0], [4.0], [160], [False]), [0.05], 1.0, 8.0,
                               TEMPERATURE, 100)
    with pytest.raises(ValueError, match="sizes"):
        other.loadBias(path)


def test_runs_under_vae_mc_integrator(bundle):
    integrator = openmmvae.VAEMCIntegrator(TEMPERATURE, 5.0, 0.005, bundle, 50)
    meta, simulation = mueller_simulation(bundle, seed=5, integrator=integrator)
    meta.step(simulation, 1000)
    assert meta.numHills == 10
    assert np.isfinite(meta.getFreeEnergy().value_in_unit(unit.kilojoule_per_mole)).all()
    assert meta.getBias().value_in_unit(unit.kilojoule_per_mole).max() > 0


def test_bad_input(bundle):
    system = mueller.mueller_system(300.0)
    with pytest.raises(ValueError, match="grid has 2 dimension"):
        LatentMetadynamics(system, bundle, ([-1, -1], [1, 1], [5, 5], [False, False]), [0.1, 0.1], 1.0, 5.0, 300, 10)
    with pytest.raises(ValueError, match="biasFactor"):
        LatentMetadynamics(system, bundle, ([-1], [1], [5], [False]), [0.1], 1.0, 1.0, 300, 10)
    with pytest.raises(ValueError, match="sigma"):
        LatentMetadynamics(system, bundle, ([-1], [1], [5], [False]), [-0.1], 1.0, 5.0, 300, 10)
    with pytest.raises(openmm.OpenMMException, match="max"):
        LatentMetadynamics(system, bundle, ([1], [-1], [5], [False]), [0.1], 1.0, 5.0, 300, 10)


def test_recovers_the_exact_free_energy_along_the_latent(bundle, tmp_path):
    """Well-tempered metadynamics on the Mueller particle against F(z) from integrating exp(-U) over
    the plane binned by the encoder mean: within 1 kT wherever the exact F is below 8 kT."""
    meta, simulation = mueller_simulation(bundle, seed=11)
    meta.step(simulation, 1_000_000)  # 5 ns, ~10 s on the Reference platform
    kT = mueller.kT(TEMPERATURE)
    z = meta.getGridPoints()[0]
    free = meta.getFreeEnergy().value_in_unit(unit.kilojoule_per_mole) / kT
    # the exact F in bins centred on the grid points
    spacing = z[1] - z[0]
    edges = np.concatenate([z - spacing / 2, [z[-1] + spacing / 2]])
    exact = mueller.exact_free_energy_along_latent(bundle, edges, TEMPERATURE, reference_temperature=300.0)
    low = np.isfinite(exact) & (exact - exact[np.isfinite(exact)].min() < 8.0)
    assert low.sum() >= 10, "too few latent bins below 8 kT to test anything"
    difference = free[low] - exact[low]
    difference -= difference.mean()  # F is defined up to a constant
    meta.plotFreeEnergy(str(tmp_path / "free_energy.png"))
    assert os.path.getsize(str(tmp_path / "free_energy.png")) > 1000
    assert np.abs(difference).max() < 1.0, (z[low], free[low], exact[low])
