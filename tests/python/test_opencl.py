"""VAECVForce on the OpenCL platform (the device kernels of platforms/common; PoCL on the CPU in CI):
a Context with a trained bundle can be created from Python, its energy, forces and CV values agree
with the Reference platform, MD runs on it, and LatentMetadynamics (the grid bias in the device
kernel) deposits the same hills as on the Reference platform."""

import os

import numpy as np
import openmm
import openmm.app
import pytest
from openmm import unit

import openmmvae
from conftest import REPO, energy, forces, positions_array, relative_error, train_bundle
from openmmvae.apps import mueller
from openmmvae.metadynamics import LatentMetadynamics

ATOMS = [4, 1, 5, 2]  # a shuffled subset of the System's six particles


def opencl_or_skip():
    try:
        platform = openmm.Platform.getPlatformByName("OpenCL")
        system = openmm.System()
        system.addParticle(1.0)
        openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
    except Exception as error:  # no OpenCL device or ICD here
        pytest.skip("no OpenCL platform can be created: %s" % error)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A positions bundle of four atoms (hidden 32, L = 2) trained for one epoch by the built openmm-vae."""
    workdir = tmp_path_factory.mktemp("opencl_bundle")
    rng = np.random.default_rng(5)
    frames = rng.normal(0.0, 0.05, size=(256, 12)) + np.tile([0.0, 0.1, 0.0, 0.15, 0.0, 0.0], 2)
    np.save(workdir / "data.npy", frames.astype(np.float32))
    return train_bundle(workdir, ["--data", str(workdir / "data.npy"), "--features", "positions", "--latent", "2",
                                  "--hidden", "32", "--decoder", "mse", "--betas", "1", "--epochs", "1", "--anneal", "1",
                                  "--seed", "1", "--threads", "1", "--quiet"])


def make_system(bundle):
    system = openmm.System()
    bonds = openmm.HarmonicBondForce()
    for i in range(6):
        system.addParticle(12.0)
    for i in range(5):
        bonds.addBond(i, i + 1, 0.15, 5000.0)
    system.addForce(bonds)
    force = openmmvae.VAECVForce(bundle)
    force.setAtoms(ATOMS)
    force.setProperty("Implementation", "torchscript")  # the exact evaluation on Reference; OpenCL ignores it
    force.useHarmonicRestraint([0.2, -0.1], [300.0, 150.0])
    force.setForceGroup(1)
    system.addForce(force)
    return system, force


def start_positions():
    return [openmm.Vec3(0.15 * i, 0.05 * (i % 2), 0.02 * i) for i in range(6)]


@pytest.mark.parametrize("precision", ["single", "double"])
def test_opencl_matches_reference_and_runs(bundle, precision):
    opencl_or_skip()
    system, force = make_system(bundle)
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 5 / unit.picosecond, 1 * unit.femtosecond)
    integrator.setRandomNumberSeed(3)
    opencl = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("OpenCL"), {"Precision": precision})
    reference = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    assert force.getImplementationInContext(opencl) == "native-" + precision
    assert force.getImplementationInContext(reference) == "torchscript"
    opencl.setPositions(start_positions())
    opencl.setVelocitiesToTemperature(300 * unit.kelvin, 4)
    tolerance = 1e-9 if precision == "double" else 2e-4
    for block in range(3):
        if block > 0:
            integrator.step(20)
        reference.setPositions(positions_array(opencl))
        e, e_ref = energy(opencl, 1 << 1), energy(reference, 1 << 1)
        assert abs(e - e_ref) <= tolerance * (1 + abs(e_ref))
        f, f_ref = forces(opencl, 1 << 1), forces(reference, 1 << 1)
        assert np.max(np.abs(f_ref)) > 1e-3
        assert np.max(np.abs(f - f_ref)) <= tolerance * np.max(np.abs(f_ref)) + 1e-9
        z, z_ref = np.array(force.getCollectiveVariableValues(opencl)), np.array(force.getCollectiveVariableValues(reference))
        assert relative_error(z, z_ref) <= tolerance
    assert np.all(np.isfinite(positions_array(opencl)))


def test_opencl_inside_customcvforce(bundle):
    """Inside CustomCVForce the CV's energy comes from the device energy buffer of the inner Context."""
    opencl_or_skip()

    def system_with_cv():
        system = openmm.System()
        for _ in range(6):
            system.addParticle(12.0)
        cv = openmm.CustomCVForce("3*a + b^2")
        for name, k in (("a", 0), ("b", 1)):
            force = openmmvae.VAECVForce(bundle)
            force.setAtoms(ATOMS)
            force.setProperty("Implementation", "torchscript")
            force.useComponent(k)
            cv.addCollectiveVariable(name, force)
        system.addForce(cv)
        return system, cv

    values = []
    for platform, properties in (("OpenCL", {"Precision": "double"}), ("Reference", {})):
        system, cv = system_with_cv()
        context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform),
                                 properties)
        context.setPositions(start_positions())
        values.append((energy(context), forces(context), np.array(cv.getCollectiveVariableValues(context))))
    (e, f, z), (e_ref, f_ref, z_ref) = values
    assert abs(e - e_ref) <= 1e-9 * (1 + abs(e_ref))
    assert np.max(np.abs(f_ref)) > 1e-3
    assert np.max(np.abs(f - f_ref)) <= 1e-9 * np.max(np.abs(f_ref)) + 1e-9
    assert relative_error(z, z_ref) <= 1e-9


def test_latent_metadynamics_on_opencl_matches_reference():
    """Metadynamics of the Mueller particle along the 1-D latent of a committed xy bundle, run by Verlet
    from the same start in double precision: the z of each deposition, the bias grid and the final
    energy and forces agree with the Reference platform (the grid, updated every 20 steps through
    updateParametersInContext, is interpolated in the device kernel)."""
    opencl_or_skip()
    runs = []
    for platform, properties in (("OpenCL", {"Precision": "double"}), ("Reference", {})):
        system = mueller.mueller_system(300.0)
        force = openmmvae.VAECVForce(os.path.join(REPO, "tests", "data", "mueller-xy-condind.pt"))
        force.setProperty("Precision", "double")  # the Reference platform's native encoder; OpenCL ignores it
        force.setForceGroup(1)
        meta = LatentMetadynamics(system, force, ([-3.0], [3.0], [121], [False]), sigma=[0.15], height=3.0,
                                  biasFactor=5.0, temperature=300.0, frequency=20)
        simulation = openmm.app.Simulation(mueller.one_atom_topology(), system, openmm.VerletIntegrator(0.004),
                                           openmm.Platform.getPlatformByName(platform), properties)
        simulation.context.setPositions([mueller.START])
        simulation.context.setVelocities([openmm.Vec3(1.5, -1.0, 0.0)])
        latents = []
        for _ in range(6):
            meta.step(simulation, 20)
            latents.append(meta.getCollectiveVariables(simulation)[0])
        assert meta.numHills == 6
        runs.append((np.array(latents), meta.getBias().value_in_unit(unit.kilojoule_per_mole),
                     energy(simulation.context, 1 << 1), forces(simulation.context, 1 << 1)))
    (z, bias, e, f), (z_ref, bias_ref, e_ref, f_ref) = runs
    assert np.ptp(z_ref) > 0.1, "the particle must move along the latent"
    assert np.max(np.abs(z - z_ref)) <= 1e-6 * (1 + np.max(np.abs(z_ref)))
    assert np.max(np.abs(bias_ref)) > 1.0
    assert np.max(np.abs(bias - bias_ref)) <= 1e-6 * np.max(np.abs(bias_ref))
    assert abs(e_ref) > 1e-3
    assert abs(e - e_ref) <= 1e-6 * (1 + abs(e_ref))
    assert np.max(np.abs(f_ref)) > 1e-3
    assert np.max(np.abs(f - f_ref)) <= 1e-5 * np.max(np.abs(f_ref))
