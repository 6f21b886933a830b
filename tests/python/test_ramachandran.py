"""openmmvae.apps.ramachandran: region assignment, block-averaged populations and core transitions."""
import math

import numpy as np
import pytest

from openmmvae.apps import ramachandran as rama


def test_regions_of_the_minima():
    phi = np.array([-83.0, -150.0, -70.0, 60.0, 75.0, -150.0, 179.0])
    psi = np.array([73.0, 160.0, -40.0, 40.0, -65.0, -170.0, 0.0])
    names = [rama.REGIONS[k] for k in rama.regions(phi, psi)]
    assert names == ["C7eq", "C5", "alpha_R", "alpha_L", "alpha_L", "C5", "alpha_L"]
    # Wrapping: 190 degrees is -170.
    assert rama.REGIONS[rama.regions(np.array([-83.0]), np.array([73.0 + 360.0]))[0]] == "C7eq"


def test_populations_and_their_errors_for_independent_frames():
    rng = np.random.default_rng(4)
    n = 20000
    truth = {"C7eq": 0.5, "C5": 0.3, "alpha_R": 0.15, "alpha_L": 0.05}
    centres = {"C7eq": (-83, 73), "C5": (-150, 160), "alpha_R": (-70, -40), "alpha_L": (60, 40)}
    labels = rng.choice(list(truth), size=n, p=list(truth.values()))
    phi = np.array([centres[l][0] for l in labels]) + rng.normal(0, 5, n)
    psi = np.array([centres[l][1] for l in labels]) + rng.normal(0, 5, n)
    pops = rama.populations(phi, psi, blocks=20)
    for name, p in truth.items():
        value, error = pops[name]
        binomial = math.sqrt(p * (1 - p) / n)
        assert abs(value - p) < 4 * binomial
        assert 0.5 * binomial < error < 2.0 * binomial  # block averaging of independent frames ~ binomial error
    assert abs(sum(v for v, _ in pops.values()) - 1) < 1e-12


def test_block_errors_see_correlation():
    """A series that sits in one state for long stretches has a much larger error than its frame count suggests."""
    rng = np.random.default_rng(2)
    in_alpha_l = np.repeat(rng.random(40) < 0.5, 500)  # 40 stays of 500 frames
    phi = np.where(in_alpha_l, 60.0, -83.0)
    psi = np.where(in_alpha_l, 40.0, 73.0)
    value, error = rama.populations(phi, psi, blocks=10)["alpha_L"]
    independent = math.sqrt(value * (1 - value) / len(phi))
    assert error > 5 * independent


def test_weights_reweight_populations():
    phi = np.array([-83.0, 60.0] * 50)
    psi = np.array([73.0, 40.0] * 50)
    w = np.array([1.0, 3.0] * 50)
    assert abs(rama.populations(phi, psi, blocks=5, weights=w)["alpha_L"][0] - 0.75) < 1e-12
    with pytest.raises(ValueError, match="weights"):
        rama.populations(phi, psi, blocks=5, weights=-w)
    with pytest.raises(ValueError, match="frames"):
        rama.populations(phi[:3], psi[:3], blocks=5)


def test_transitions_count_core_changes_not_recrossings():
    # beta core, barrier region (no core), back to beta: no transition; then alpha_R, then alpha_L.
    phi = np.array([-83.0, -45.0, -83.0, -45.0, -70.0, -70.0, 0.0, 60.0, -83.0])
    psi = np.array([73.0, 20.0, 73.0, 20.0, -40.0, -40.0, 0.0, 40.0, 73.0])
    total, pairs = rama.count_transitions(phi, psi)
    assert total == 3
    assert pairs == {"beta->alpha_R": 1, "alpha_R->alpha_L": 1, "alpha_L->beta": 1}


def test_compare_gives_z_scores():
    a = {r: (0.25, 0.01) for r in rama.REGIONS}
    b = dict(a, C7eq=(0.30, 0.01))
    z = rama.compare(a, b)
    assert abs(z["C7eq"] - 0.05 / math.sqrt(2e-4)) < 1e-9 and z["C5"] == 0


def test_free_energy_map_is_minus_log_of_the_weighted_histogram():
    phi = np.array([-83.0, -83.0, -83.0, 65.0, 65.0 + 360.0])  # the last one wraps onto the fourth
    psi = np.array([73.0, 73.0, 73.0, 45.0, 45.0])
    edges, free = rama.free_energy_map(phi, psi, bins=36)
    assert edges[0] == -180.0 and edges[-1] == 180.0 and free.shape == (36, 36)
    i, j = np.searchsorted(edges, -83.0) - 1, np.searchsorted(edges, 73.0) - 1
    k, m = np.searchsorted(edges, 65.0) - 1, np.searchsorted(edges, 45.0) - 1
    assert free[i, j] == 0.0 and free[k, m] == pytest.approx(math.log(3 / 2))
    assert np.isnan(free).sum() == 36 * 36 - 2  # empty bins
    _, weighted = rama.free_energy_map(phi, psi, bins=36, weights=[1, 1, 1, 3, 3])
    assert weighted[k, m] == 0.0 and weighted[i, j] == pytest.approx(math.log(2))
