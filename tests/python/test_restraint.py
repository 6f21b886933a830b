"""Harmonic restraint: energy formula, Context parameters, prefix, units, updateParametersInContext."""

import numpy as np
import pytest
import torch

import openmm
import openmmvae
from openmm import unit
from conftest import (AnalyticCV, analytic_bytes, energy, make_context, make_system, metadata, mlp_bytes,
                      positions_array)


def reference_z(context, atoms):
    """z computed independently with Python's torch on the Context's positions."""
    x = torch.tensor(positions_array(context)[atoms], dtype=torch.float64)
    return AnalyticCV().double()(x).detach().numpy()


def restraint_context(prefix=None, centers=(0.3, -0.2), kappas=(250.0, 40.0)):
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    if prefix is not None:
        force.setGlobalParameterPrefix(prefix)
    force.useHarmonicRestraint(list(centers), list(kappas))
    force.setForceGroup(3)
    system = make_system(4)
    system.addForce(force)
    return force, make_context(system)


def restraint_energy(z, centers, kappas):
    return sum(0.5 * k * (zk - c) ** 2 for zk, c, k in zip(z, centers, kappas))


def test_energy_formula_and_cv_values():
    force, context = restraint_context()
    z = force.getCollectiveVariableValues(context)
    assert isinstance(z, list) and len(z) == 2 and all(isinstance(v, float) for v in z)
    np.testing.assert_allclose(z, reference_z(context, [0, 1, 2]), rtol=1e-12)
    assert energy(context, groups={3}) == pytest.approx(restraint_energy(z, [0.3, -0.2], [250.0, 40.0]), rel=1e-12)


def test_context_parameters():
    force, context = restraint_context()
    params = context.getParameters()
    assert {"vae_center0", "vae_center1", "vae_kappa0", "vae_kappa1"} <= set(params.keys())
    assert params["vae_center0"] == pytest.approx(0.3)
    assert params["vae_kappa1"] == pytest.approx(40.0)
    z = force.getCollectiveVariableValues(context)
    context.setParameter("vae_center0", 1.0)
    context.setParameter("vae_kappa1", 7.5)
    assert energy(context, groups={3}) == pytest.approx(restraint_energy(z, [1.0, -0.2], [250.0, 7.5]), rel=1e-12)
    # A zero force constant switches a dimension off.
    context.setParameter("vae_kappa0", 0.0)
    assert energy(context, groups={3}) == pytest.approx(restraint_energy(z, [1.0, -0.2], [0.0, 7.5]), rel=1e-12)


def test_custom_prefix():
    force, context = restraint_context(prefix="win7_")
    assert force.getGlobalParameterPrefix() == "win7_"
    assert force.getCenterParameterName(1) == "win7_center1"
    assert force.getForceConstantParameterName(0) == "win7_kappa0"
    params = set(context.getParameters().keys())
    assert {"win7_center0", "win7_center1", "win7_kappa0", "win7_kappa1"} <= params
    assert not any(name.startswith("vae_") for name in params)
    z = force.getCollectiveVariableValues(context)
    context.setParameter("win7_center1", 2.0)
    assert energy(context, groups={3}) == pytest.approx(restraint_energy(z, [0.3, 2.0], [250.0, 40.0]), rel=1e-12)


def test_unit_quantities_and_numpy_inputs():
    force = openmmvae.VAECVForce(analytic_bytes())
    force.setAtoms(np.array([2, 0, 1], dtype=np.int64))
    assert force.getAtoms() == [2, 0, 1]
    force.useHarmonicRestraint(np.array([0.1, 0.2]), [10.0 * unit.kilocalorie_per_mole, 20.0 * unit.kilojoule_per_mole])
    assert unit.is_quantity(force.getForceConstants())  # kJ/mol per latent unit squared
    assert force.getForceConstants().value_in_unit(unit.kilojoule_per_mole) == pytest.approx([41.84, 20.0])
    force.useHarmonicRestraint((0.1, 0.2), unit.Quantity(np.array([1.0, 2.0]), unit.kilocalorie_per_mole))
    assert force.getForceConstants().value_in_unit(unit.kilojoule_per_mole) == pytest.approx([4.184, 8.368])
    force.useHarmonicRestraint(centers=[0.0, 0.0], forceConstants=[5.0, 6.0])
    assert force.getCenters() == [0.0, 0.0] and force.getForceConstants() == [5.0, 6.0] * unit.kilojoule_per_mole
    force.useHarmonicRestraint([0.0, 0.0], force.getForceConstants())  # what a getter returns, a setter takes
    force.useComponent(np.int32(1))
    assert force.getEnergyMode() == openmmvae.VAECVForce.Component and force.getComponent() == 1
    with pytest.raises(TypeError, match="forceConstants"):
        force.useHarmonicRestraint([0.0, 0.0], [5.0 * unit.nanometer, 1.0 * unit.nanometer])
    with pytest.raises(TypeError, match="atoms"):
        force.setAtoms([0, 1.5, 2])
    # Context parameters take quantities too (OpenMM's own conversion).
    force, context = restraint_context()
    z = force.getCollectiveVariableValues(context)
    context.setParameter("vae_kappa0", 100.0 * unit.kilocalorie_per_mole)
    assert energy(context, groups={3}) == pytest.approx(restraint_energy(z, [0.3, -0.2], [418.4, 40.0]), rel=1e-12)


def test_update_parameters_in_context():
    force = openmmvae.VAECVForce(analytic_bytes())
    force.setAtoms([0, 1, 2])
    system = make_system(4, bonds=False)
    system.addForce(force)
    context = make_context(system)
    z = force.getCollectiveVariableValues(context)
    assert energy(context) == pytest.approx(z[0], rel=1e-12)
    force.useComponent(1)
    assert energy(context) == pytest.approx(z[0], rel=1e-12)  # not yet in the Context
    force.updateParametersInContext(context)
    assert energy(context) == pytest.approx(z[1], rel=1e-12)
    force.setAtoms([1, 2, 3])
    force.updateParametersInContext(context)
    z2 = force.getCollectiveVariableValues(context)
    assert z2 != z
    assert energy(context) == pytest.approx(z2[1], rel=1e-12)


def test_accessors_and_repr():
    force = openmmvae.VAECVForce(mlp_bytes(4, 3, meta=metadata([0, 1, 2, 3], 3)))
    assert force.getNumLatentDimensions() == 3
    assert force.getAtoms() == [0, 1, 2, 3]
    assert '"latent": 3' in force.getMetadata()
    assert isinstance(force.getModelBytes(), bytes) and force.getModelBytes()[:4] == b"PK\x03\x04"
    assert not force.usesPeriodicBoundaryConditions()
    force.useHarmonicRestraint([0, 1, 2], [3, 4, 5])
    text = repr(force)
    assert "VAECVForce" in text and "HarmonicRestraint" in text and "vae_center" in text and "latent=3" in text
    force.useComponent(2)
    assert "Component(2)" in repr(force)
    # Without metadata the latent size comes from evaluating the model once.
    force = openmmvae.VAECVForce(analytic_bytes())
    force.setAtoms([0, 1, 2])
    assert force.getNumLatentDimensions() == 2
    assert "atoms [0, 1, 2]" in repr(force)


def test_properties():
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    assert force.getProperties() == {}
    force.setProperty("Implementation", "torchscript")
    assert force.getProperties() == {"Implementation": "torchscript"}
    with pytest.raises(openmm.OpenMMException):
        force.setProperty("NoSuchProperty", "x")
    system = make_system(3, bonds=False)
    system.addForce(force)
    context = make_context(system)
    assert force.getImplementationInContext(context) == "torchscript"
