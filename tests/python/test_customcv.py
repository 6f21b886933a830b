"""VAECVForce as a collective variable: inside CustomCVForce and openmm.app.Metadynamics."""

import numpy as np
import pytest

import openmm
import openmmvae
from openmm import app, unit
from conftest import (analytic_bytes, energy, forces, make_context, make_system, metadata, mlp_bytes,
                      relative_error, POSITIONS)


@pytest.mark.parametrize("mode", ["component", "restraint"])
def test_customcv_equals_bare_force(mode):
    data = mlp_bytes(4, 2, meta=metadata([0, 1, 2, 3], 2))

    def vae():
        force = openmmvae.VAECVForce(data)
        if mode == "restraint":
            force.useHarmonicRestraint([0.2, -0.1], [300.0, 50.0])
        else:
            force.useComponent(1)
        return force

    bare = make_system(4, bonds=False)
    bare.addForce(vae())
    wrapped = make_system(4, bonds=False)
    cv = openmm.CustomCVForce("z")
    cv.addCollectiveVariable("z", vae())
    wrapped.addForce(cv)
    c1, c2 = make_context(bare), make_context(wrapped)
    assert energy(c2) == pytest.approx(energy(c1), rel=1e-12)
    assert np.max(np.abs(forces(c1))) > 1e-3
    assert relative_error(forces(c2), forces(c1)) < 1e-12
    # The inner force is reachable and typed through cast.
    inner = openmmvae.VAECVForce.cast(cv.getCollectiveVariable(0))
    assert inner.getEnergyMode() == (1 if mode == "restraint" else 0)
    values = cv.getCollectiveVariableValues(c2)
    z = openmmvae.VAECVForce.cast(bare.getForce(0)).getCollectiveVariableValues(c1)
    assert values[0] == pytest.approx(energy(c1), rel=1e-12)
    if mode == "component":
        assert values[0] == pytest.approx(z[1], rel=1e-12)


def test_customcv_expression_of_two_components():
    data = analytic_bytes(metadata([0, 1, 2], 2))
    system = make_system(4, bonds=False)
    cv = openmm.CustomCVForce("3*a + b^2")
    for name, k in (("a", 0), ("b", 1)):
        force = openmmvae.VAECVForce(data)
        force.useComponent(k)
        cv.addCollectiveVariable(name, force)
    system.addForce(cv)
    context = make_context(system)
    a, b = cv.getCollectiveVariableValues(context)
    assert energy(context) == pytest.approx(3 * a + b ** 2, rel=1e-12)


def test_metadynamics_deposits_hills():
    """A 1-D well-tempered metadynamics run over z0 = 1.5 |r1 - r0| (nm) of a 3-particle chain."""
    system = make_system(3, bonds=False)
    bonds = openmm.HarmonicBondForce()
    bonds.addBond(0, 1, 0.15, 500.0)  # soft, so the CV moves
    bonds.addBond(1, 2, 0.15, 5000.0)
    system.addForce(bonds)
    cv = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    cv.useComponent(0)
    variable = app.BiasVariable(cv, 0.0, 0.6, 0.02, False, 61)
    meta = app.Metadynamics(system, [variable], 300 * unit.kelvin, 5.0, 1.0 * unit.kilojoule_per_mole, 10)
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 5 / unit.picosecond, 0.002 * unit.picoseconds)
    integrator.setRandomNumberSeed(4)
    topology = app.Topology()
    chain = topology.addChain()
    residue = topology.addResidue("CV", chain)
    for i in range(3):
        topology.addAtom("C%d" % i, app.element.carbon, residue)
    simulation = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("Reference"))
    simulation.context.setPositions(POSITIONS[:3])
    simulation.context.setVelocitiesToTemperature(300 * unit.kelvin, 5)
    assert np.all(meta.getFreeEnergy().value_in_unit(unit.kilojoule_per_mole) == 0)
    values = []
    for _ in range(10):
        meta.step(simulation, 30)
        values.append(meta.getCollectiveVariables(simulation)[0])
    free_energy = meta.getFreeEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert np.all(np.isfinite(free_energy))
    assert np.ptp(free_energy) > 1.0, "hills were deposited"  # 30 hills of <= 1 kJ/mol * (1+1/4) scaling
    assert np.all(np.isfinite(values)) and np.ptp(values) > 0
    # The bias acts on the system: the bias force group has a non-zero energy now.
    bias_group = meta._force.getForceGroup()
    assert abs(energy(simulation.context, groups={bias_group})) > 0
