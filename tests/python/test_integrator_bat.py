"""VAEMCIntegrator on alanine dipeptide with a BAT bundle (smoke test): moves keep every constrained
bond at its length, the Context stays consistent, and the acceptance rate is reported. The data are a
short Langevin run made here; the bundle is trained for two epochs by the built openmm-vae."""


import numpy as np
import pytest

import openmm
import openmm.app
import openmmvae
from openmm import unit
from openmmvae.apps import alanine_dipeptide
from conftest import train_bundle, trainer_command

TEMPERATURE = 300.0


@pytest.fixture(scope="module")
def alanine(tmp_path_factory):
    trainer_command()  # skip before simulating when the trainer is missing
    workdir = tmp_path_factory.mktemp("alanine_bat")
    topology = alanine_dipeptide.topology()
    system = alanine_dipeptide.create_system("hbonds")
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE, 1.0, 0.002)
    integrator.setRandomNumberSeed(3)
    simulation = openmm.app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(alanine_dipeptide.build_positions())
    simulation.minimizeEnergy()
    simulation.context.setVelocitiesToTemperature(TEMPERATURE, 3)
    simulation.step(2000)
    with open(workdir / "ala.pdb", "w") as f:
        openmm.app.PDBFile.writeFile(topology, simulation.context.getState(getPositions=True).getPositions(), f)
    simulation.reporters.append(openmm.app.DCDReporter(str(workdir / "ala.dcd"), 20))
    simulation.step(20 * 2000)
    bundle = train_bundle(workdir, ["--trajectory", str(workdir / "ala.dcd"), "--topology", str(workdir / "ala.pdb"),
                                    "--features", "bat", "--atoms", "all", "--constraints", "hbonds", "--decoder", "condind",
                                    "--latent", "1", "--hidden", "50", "--betas", "1", "--epochs", "30", "--anneal", "5",
                                    "--temperature", str(TEMPERATURE), "--seed", "1", "--threads", "1", "--quiet"],
                          timeout=600)
    last = simulation.context.getState(getPositions=True).getPositions(asNumpy=True)
    return bundle, topology, last


def constraint_errors(system, positions):
    """|r_ij - d_ij| in nm of every constraint."""
    p = np.asarray(positions.value_in_unit(unit.nanometer))
    errors = []
    for k in range(system.getNumConstraints()):
        i, j, d = system.getConstraintParameters(k)
        errors.append(abs(np.linalg.norm(p[i] - p[j]) - d.value_in_unit(unit.nanometer)))
    return np.array(errors)


def run_moves(bundle, start, temperature, moves):
    system = alanine_dipeptide.create_system("hbonds")
    integrator = openmmvae.VAEMCIntegrator(temperature, 1.0, 0.002, bundle, 10, 1)
    integrator.setMoveRandomNumberSeed(4)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(start)
    context.applyConstraints(1e-10)
    before = context.getState(getPositions=True).getPositions(asNumpy=True)
    integrator.attemptMoves(moves)
    print("[vae-mc-integrator] alanine dipeptide bat at %g K: %d of %d pure moves accepted (%.3f), %d invalid; "
          "term means %s" % (temperature, integrator.getNumAccepted(), integrator.getNumAttempted(),
                             integrator.getAcceptanceRate(), integrator.getNumRejectedInvalid(),
                             dict(zip(openmmvae.VAEMCIntegrator.getTermNames(), integrator.getTermMeans()))))
    return system, integrator, context, before


def test_bat_moves_at_300K(alanine):
    bundle, topology, start = alanine
    system, integrator, context, before = run_moves(bundle, start, TEMPERATURE, 200)
    assert system.getNumConstraints() == 12 and integrator.getFeatureKind() == "bat"
    state = context.getState(getPositions=True, getEnergy=True)
    assert np.isfinite(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    assert constraint_errors(system, state.getPositions(asNumpy=True)).max() < 1e-6
    # then mixed dynamics
    integrator.step(300)
    state = context.getState(getPositions=True, getEnergy=True)
    assert integrator.getNumAttempted() == 230
    assert np.isfinite(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    assert constraint_errors(system, state.getPositions(asNumpy=True)).max() < 1e-4


def test_accepted_bat_moves_keep_constraints(alanine):
    # This briefly trained bundle's proposals cost hundreds of kJ/mol or more (few or no moves are
    # accepted at 300 K); at 30000 K moves are accepted (the rule is exact at any temperature), so
    # the configurations and velocities after accepted moves can be checked.
    bundle, topology, start = alanine
    system, integrator, context, before = run_moves(bundle, start, 30000.0, 100)
    assert integrator.getNumAccepted() > 0
    state = context.getState(getPositions=True, getVelocities=True)
    positions = state.getPositions(asNumpy=True)
    assert not np.array_equal(before, positions)
    assert constraint_errors(system, positions).max() < 1e-6
    # velocities redrawn for the moved atoms lie in the constraints' tangent space
    p = np.asarray(positions.value_in_unit(unit.nanometer))
    v = np.asarray(state.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond))
    for k in range(system.getNumConstraints()):
        i, j, d = system.getConstraintParameters(k)
        r = p[i] - p[j]
        assert abs(np.dot(r, v[i] - v[j])) / np.linalg.norm(r) < 1e-3 * np.linalg.norm(v[i] - v[j]) + 1e-6


def test_bat_bundle_refuses_a_system_without_constraints(alanine):
    bundle = alanine[0]
    integrator = openmmvae.VAEMCIntegrator(TEMPERATURE, 1.0, 0.002, bundle)
    with pytest.raises(openmm.OpenMMException, match="constrain"):
        openmm.Context(alanine_dipeptide.create_system("none"), integrator, openmm.Platform.getPlatformByName("Reference"))


def with_scaled_constraints(system, factor):
    """The System with every constraint length times `factor` (data from another force field or engine)."""
    for k in range(system.getNumConstraints()):
        i, j, d = system.getConstraintParameters(k)
        system.setConstraintParameters(k, i, j, d * factor)
    return system


def test_moves_take_the_systems_constraint_lengths(alanine):
    # The bundle learnt the data's X-H lengths; a System with lengths 2 % longer is accepted and the
    # accepted moves build those bonds at the System's lengths.
    bundle, topology, start = alanine
    system = with_scaled_constraints(alanine_dipeptide.create_system("hbonds"), 1.02)
    integrator = openmmvae.VAEMCIntegrator(30000.0, 1.0, 0.002, bundle, 10, 1)
    integrator.setMoveRandomNumberSeed(4)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(start)
    context.applyConstraints(1e-10)
    integrator.attemptMoves(100)
    assert integrator.getNumAccepted() > 0
    positions = context.getState(getPositions=True).getPositions(asNumpy=True)
    assert constraint_errors(system, positions).max() < 1e-6
    unscaled = alanine_dipeptide.create_system("hbonds")
    assert constraint_errors(unscaled, positions).max() > 1e-3  # the 2 % are really there


def test_the_cv_runs_with_any_constraints(alanine):
    # The CV reads positions only: a System without constraints or with other lengths gives the same energy.
    bundle, topology, start = alanine
    energies = []
    for system in (alanine_dipeptide.create_system("hbonds"), alanine_dipeptide.create_system("none"),
                   with_scaled_constraints(alanine_dipeptide.create_system("hbonds"), 1.02)):
        force = openmmvae.VAECVForce(bundle)
        force.useHarmonicRestraint([0.5], [100.0])
        force.setForceGroup(1)
        system.addForce(force)
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
        context.setPositions(start)
        energies.append(context.getState(getEnergy=True, groups={1}).getPotentialEnergy().value_in_unit(
            unit.kilojoule_per_mole))
    assert energies[0] > 0 and energies[1] == energies[0] and energies[2] == energies[0], energies
