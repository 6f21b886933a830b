"""openmmvae.apps.mueller: the Mueller particle as an OpenMM System and its exact densities, checked against
the formula of science.md section 4, against a long plain Langevin run, and along a trained latent."""

import os
import subprocess

import numpy as np
import pytest

import openmm
from openmmvae.apps import mueller

# The three minima of U (nm), deepest first (located by minimising U; science.md section 4 potential).
MINIMA = [(-0.5582, 1.4417), (0.6235, 0.0280), (-0.0500, 0.4667)]


def train_mueller_bundle(workdir, epochs=3, samples=4000, seed=1):
    """A Mueller bundle (xy features of atom 0, condind decoder, L = 1) trained by the build tree's trainer."""
    build = os.environ.get("OPENMMVAE_BUILD_DIR")
    command = os.path.join(build or "", "bin", "openmm-vae")
    if not build or not os.path.exists(command):
        pytest.skip("the openmm-vae trainer of the build tree is needed (run through ctest)")
    result = subprocess.run([command, "train", "--system", "mueller", "--samples", str(samples), "--decoder", "condind",
                             "--latent", "1", "--hidden", "20", "--betas", "1", "--epochs", str(epochs), "--anneal", "1",
                             "--seed", str(seed), "--threads", "1", "--quiet", "--out", str(workdir / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return str(workdir / "run" / "beta-1" / "model.pt")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return train_mueller_bundle(tmp_path_factory.mktemp("mueller_bundle"))


def test_energy_matches_the_formula_and_openmm():
    # the numpy U against the published sum written out term by term
    x, y = 0.3, 0.9
    terms = (-200 * np.exp(-(x - 1) ** 2 - 10 * y ** 2) - 100 * np.exp(-x ** 2 - 10 * (y - 0.5) ** 2)
             - 170 * np.exp(-6.5 * (x + 0.5) ** 2 + 11 * (x + 0.5) * (y - 1.5) - 6.5 * (y - 1.5) ** 2)
             + 15 * np.exp(0.7 * (x + 1) ** 2 + 0.6 * (x + 1) * (y - 1) + 0.7 * (y - 1) ** 2))
    assert mueller.mueller_energy(x, y) == pytest.approx(0.1 * terms, rel=1e-14)
    # the OpenMM System (Lepton expression) against numpy, vectorised, at random points
    rng = np.random.default_rng(4)
    points = rng.uniform([-1.5, -0.3, -0.05], [1.0, 2.0, 0.05], size=(20, 3))
    temperature = 350.0
    context = openmm.Context(mueller.mueller_system(temperature, mass=3.0), openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("Reference"))
    assert context.getSystem().getParticleMass(0).value_in_unit(openmm.unit.dalton) == 3.0
    expected = mueller.kT(temperature) * mueller.mueller_energy(points[:, 0], points[:, 1]) + 500 * points[:, 2] ** 2
    for point, value in zip(points, expected):
        context.setPositions([openmm.Vec3(*point)])
        energy = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        assert energy == pytest.approx(value, rel=1e-12, abs=1e-10)
    assert mueller.one_atom_topology().getNumAtoms() == 1
    with pytest.raises(ValueError, match="temperature"):
        mueller.mueller_system(-1.0)


def test_minima_are_stationary_points_of_u():
    h = 1e-6
    for x, y in MINIMA:
        gx = (mueller.mueller_energy(x + h, y) - mueller.mueller_energy(x - h, y)) / (2 * h)
        gy = (mueller.mueller_energy(x, y + h) - mueller.mueller_energy(x, y - h)) / (2 * h)
        assert abs(gx) < 0.05 and abs(gy) < 0.05  # kT/nm, at 4-digit coordinates
    energies = [mueller.mueller_energy(x, y) for x, y in MINIMA]
    assert energies == sorted(energies) and energies[0] == pytest.approx(-14.669, abs=1e-3)


def test_exact_density_sums_to_one_and_peaks_at_the_minima():
    edges_x = np.linspace(-1.8, 1.3, 63)
    edges_y = np.linspace(-0.5, 2.2, 55)
    density = mueller.exact_density(edges_x, edges_y, 300.0)
    assert density.shape == (62, 54)
    assert density.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(density >= 0)
    # the most probable bin holds the deepest minimum; each minimum's bin is (up to where the minimum
    # sits inside its 0.05 nm bin) a local maximum
    ix, iy = np.unravel_index(np.argmax(density), density.shape)
    assert edges_x[ix] <= MINIMA[0][0] < edges_x[ix + 1] and edges_y[iy] <= MINIMA[0][1] < edges_y[iy + 1]
    for x, y in MINIMA:
        i, j = np.searchsorted(edges_x, x) - 1, np.searchsorted(edges_y, y) - 1
        assert density[i, j] >= density[i - 1:i + 2, j - 1:j + 2].max() * 0.85
    # a coarser binning gives the sums of the fine bins (same integral, finer midpoint rule)
    coarse = mueller.exact_density(edges_x[::2], edges_y[::2], 300.0, subdivisions=40)
    assert np.allclose(coarse, density.reshape(31, 2, 27, 2).sum(axis=(1, 3)), rtol=1e-3, atol=1e-9)
    # temperature: the reference System sampled at 2 T_ref is exp(-U/2)
    hot = mueller.exact_density(edges_x, edges_y, 600.0)
    same = mueller.exact_density(edges_x, edges_y, 300.0, reference_temperature=150.0)
    assert np.allclose(hot, same, rtol=1e-10)
    assert hot.max() < density.max()
    with pytest.raises(ValueError, match="bins_x"):
        mueller.exact_density([0.0, -1.0], edges_y)


def langevin_samples(temperature, steps, stride, seed):
    system = mueller.mueller_system(300.0)
    integrator = openmm.LangevinMiddleIntegrator(temperature, 5.0, 0.005)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions([mueller.START])
    context.setVelocitiesToTemperature(temperature, seed)
    integrator.step(2000)
    samples = np.empty((steps // stride, 2))
    for i in range(samples.shape[0]):
        integrator.step(stride)
        samples[i] = context.getState(getPositions=True).getPositions(asNumpy=True)._value[0, :2]
    return samples


def test_exact_density_agrees_with_a_long_langevin_run():
    # At 1000 K the System built for 300 K has barriers of ~3 kT: a 6 ns run crosses them often.
    temperature = 1000.0
    edges_x = np.linspace(-2.0, 1.4, 9)
    edges_y = np.linspace(-0.6, 2.3, 8)
    samples = langevin_samples(temperature, steps=1_200_000, stride=20, seed=11)
    inside = ((samples[:, 0] >= edges_x[0]) & (samples[:, 0] < edges_x[-1]) &
              (samples[:, 1] >= edges_y[0]) & (samples[:, 1] < edges_y[-1]))
    assert inside.mean() > 0.95  # compared below: the densities conditional on the binned region
    blocks = 20
    histograms = np.array([np.histogram2d(b[:, 0], b[:, 1], bins=(edges_x, edges_y))[0]
                           for b in np.array_split(samples[inside], blocks)])
    per_block = histograms / histograms.sum(axis=(1, 2), keepdims=True)
    sampled = per_block.mean(axis=0)
    error = per_block.std(axis=0, ddof=1) / np.sqrt(blocks)
    exact = mueller.exact_density(edges_x, edges_y, temperature, reference_temperature=300.0)
    deviation = np.abs(sampled - exact)
    assert np.all(deviation <= 4 * error + 2e-3), (sampled, exact, error)
    # power: the same run disagrees with the density at a temperature 30 % off
    wrong = mueller.exact_density(edges_x, edges_y, 0.7 * temperature, reference_temperature=300.0)
    assert np.any(np.abs(sampled - wrong) > 4 * error + 2e-3)


def test_free_energy_along_the_latent_of_a_trained_bundle(bundle):
    import torch

    model = torch.jit.load(bundle)
    minima = torch.tensor([[[x, y, 0.0]] for x, y in MINIMA], dtype=torch.float64)
    z_minima = model.latent_mean(minima)[:, 0].detach().numpy()
    edges = np.linspace(z_minima.min() - 1.5, z_minima.max() + 1.5, 41)
    free_energy = mueller.exact_free_energy_along_latent(bundle, edges, 300.0)
    assert free_energy.shape == (40,)
    assert np.nanmin(free_energy) == 0.0
    bins = np.searchsorted(edges, z_minima) - 1
    assert np.all(np.isfinite(free_energy[bins])), (z_minima, free_energy)
    # the deepest minimum (by ~4.5 kT) makes its latent bin, or a neighbour, a low-F bin
    assert free_energy[max(bins[0] - 1, 0):bins[0] + 2].min() < 2.0
    # the grid integral has converged: half the resolution changes F by < 0.1 kT where F < 8 kT
    coarse = mueller.exact_free_energy_along_latent(bundle, edges, 300.0, resolution=0.01)
    low = free_energy < 8
    assert np.all(np.abs(coarse[low] - free_energy[low]) < 0.1)
    # the bins beyond the range of the encoder over the plane are empty: +inf
    assert np.isinf(free_energy).any()
    with pytest.raises(ValueError, match="bin_edges"):
        mueller.exact_free_energy_along_latent(bundle, [1.0, 0.0])
