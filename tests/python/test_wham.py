"""openmmvae.wham against an exactly known free energy: windows sampled directly from the biased
densities of a double well."""

import numpy as np
import pytest

from openmmvae.wham import wham


def double_well(z):
    return 3.0 * (z ** 2 - 1.0) ** 2  # kT


def sample_window(rng, center, kappa_kt, n, grid):
    p = np.exp(-double_well(grid) - 0.5 * kappa_kt * (grid - center) ** 2)
    return rng.choice(grid, size=n, p=p / p.sum()) + rng.uniform(-0.5, 0.5, n) * (grid[1] - grid[0])


def test_wham_recovers_the_double_well():
    rng = np.random.default_rng(3)
    grid = np.linspace(-2.0, 2.0, 4001)
    kT = 2.5
    kappa_kt = 40.0
    centers = np.linspace(-1.6, 1.6, 17)
    samples = [sample_window(rng, c, kappa_kt, 4000, grid) for c in centers]
    edges = np.linspace(-1.8, 1.8, 37)
    result = wham(samples, centers, kappa_kt * kT, kT, edges)
    mids = result.bin_centers
    exact = double_well(mids)
    # bin-averaged exact F: integrate exp(-U) over each bin
    fine = np.linspace(-1.8, 1.8, 36001)
    idx = np.clip(np.digitize(fine, edges) - 1, 0, len(mids) - 1)
    exact = -np.log(np.bincount(idx, weights=np.exp(-double_well(fine)), minlength=len(mids)))
    exact -= exact.min()
    mask = exact < 6
    assert np.max(np.abs(result.free_energy[mask] - exact[mask])) < 0.3
    # the reweighted frames reproduce the unbiased mean of z^2
    z = np.concatenate(samples)
    w = result.frame_weights(z)
    assert w.sum() == pytest.approx(1.0)
    exact_mean = np.sum(fine ** 2 * np.exp(-double_well(fine))) / np.sum(np.exp(-double_well(fine)))
    assert np.sum(w * z ** 2) == pytest.approx(exact_mean, abs=0.02)


def test_wrong_kappa_is_detected():
    """The same data unbiased with a wrong force constant gives a visibly wrong F (the test can fail)."""
    rng = np.random.default_rng(4)
    grid = np.linspace(-2.0, 2.0, 4001)
    centers = np.linspace(-1.6, 1.6, 17)
    samples = [sample_window(rng, c, 40.0, 3000, grid) for c in centers]
    edges = np.linspace(-1.8, 1.8, 37)
    good = wham(samples, centers, 40.0, 1.0, edges).free_energy
    bad = wham(samples, centers, 20.0, 1.0, edges).free_energy
    mask = np.isfinite(good) & (good < 6)
    assert np.max(np.abs(good[mask] - bad[mask])) > 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="windows"):
        wham([np.zeros(3)], [0.0, 1.0], 1.0, 1.0, [0, 1])
    with pytest.raises(ValueError, match="no samples"):
        wham([np.array([5.0])], [0.0], 1.0, 1.0, [0, 1])
