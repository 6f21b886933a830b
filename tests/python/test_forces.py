"""Forces equal minus the finite-difference gradient of the energy, on Reference and CPU."""

import numpy as np
import pytest

import openmmvae
from conftest import (PLATFORMS, analytic_bytes, finite_difference_forces, forces, make_context, make_system,
                      metadata, mlp_bytes, relative_error, energy)

MODELS = {
    "analytic": lambda: (analytic_bytes(), [0, 1, 2, 3], 2),
    "mlp": lambda: (mlp_bytes(4, 2, meta=metadata([3, 0, 2, 1], 2)), None, 2),
}


def vae_only_context(force, platform):
    system = make_system(4, bonds=False)
    system.addForce(force)
    return make_context(system, platform)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("mode", ["component0", "component1", "restraint"])
def test_forces_match_finite_differences(platform, model, mode):
    data, atoms, latent = MODELS[model]()
    force = openmmvae.VAECVForce(data)
    if atoms is not None:
        force.setAtoms(atoms)
    if mode == "restraint":
        force.useHarmonicRestraint([0.3, -0.2], [250.0, 40.0])
    else:
        force.useComponent(int(mode[-1]))
    context = vae_only_context(force, platform)
    f = forces(context)
    fd = finite_difference_forces(context)
    assert np.max(np.abs(f)) > 1e-3, "the test needs non-trivial forces"
    assert relative_error(f, fd) < 1e-5


def test_cpu_matches_reference():
    data, atoms, latent = MODELS["mlp"]()
    results = []
    for platform in PLATFORMS:
        force = openmmvae.VAECVForce(data)
        force.useHarmonicRestraint([0.1, 0.2], [100.0, 100.0])
        context = vae_only_context(force, platform)
        results.append((energy(context), forces(context), force.getCollectiveVariableValues(context)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6, abs=1e-9)
    assert relative_error(results[1][1], results[0][1]) < 1e-5
    assert results[0][2] == pytest.approx(results[1][2], rel=1e-6)
