"""Conformational states of alanine dipeptide on the Ramachandran plane, their populations with
block-averaged errors, and basin transitions (for comparing samplers, e.g. VAE-MC + MD vs plain MD).

Regions (a partition of the plane; angles in degrees, phi and psi in [-180, 180)):
- ``alpha_L`` (with C7ax): phi >= 0;
- ``alpha_R``: phi < 0 and -120 <= psi < 0;
- ``C7eq``: phi < 0 and 0 <= psi < 120;
- ``C5`` (extended, beta): phi < 0 and (psi >= 120 or psi < -120).

Transitions are counted between cores, smaller boxes around the minima, so that a trajectory
recrossing a boundary is not counted many times: a transition is a visit to a core different from
the last core visited (``C7eq`` and ``C5`` share one core, ``beta``, since they are not separated by
a barrier of more than ~1 kT in vacuum; ``alpha_R``; ``alpha_L``).
"""
import math

import numpy as np

REGIONS = ("C7eq", "C5", "alpha_R", "alpha_L")

# (phi_min, phi_max, psi_min, psi_max) in degrees.
CORES = {
    "beta": [(-180.0, -50.0, 40.0, 180.0), (-180.0, -50.0, -180.0, -150.0)],
    "alpha_R": [(-120.0, -40.0, -70.0, -10.0)],
    "alpha_L": [(30.0, 110.0, -100.0, 80.0)],
}

__all__ = ["REGIONS", "CORES", "regions", "populations", "free_energy_map", "core_sequence", "count_transitions", "compare"]


def _wrap(angle):
    a = np.asarray(angle, dtype=float)
    return (a + 180.0) % 360.0 - 180.0


def regions(phi, psi):
    """Index into REGIONS of every frame (phi, psi arrays in degrees)."""
    phi, psi = _wrap(phi), _wrap(psi)
    out = np.full(phi.shape, REGIONS.index("C5"), dtype=int)
    out[(phi < 0) & (psi >= -120) & (psi < 0)] = REGIONS.index("alpha_R")
    out[(phi < 0) & (psi >= 0) & (psi < 120)] = REGIONS.index("C7eq")
    out[phi >= 0] = REGIONS.index("alpha_L")
    return out


def populations(phi, psi, blocks=20, weights=None):
    """Population of each region with its standard error from block averaging.

    The series is cut into `blocks` consecutive blocks; the error is the standard deviation of the
    block means over sqrt(blocks), which is valid when a block is longer than the correlation time
    (check by changing `blocks`). `weights` (e.g. exp(bias/kT) for reweighting) are optional.
    Returns {region: (population, standard_error)}.
    """
    r = regions(phi, psi)
    n = len(r)
    if n < blocks or blocks < 2:
        raise ValueError("populations: need at least %d frames for %d blocks, got %d" % (max(blocks, 2), blocks, n))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != r.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("populations: weights must be finite, non-negative and one per frame")
    edges = np.linspace(0, n, blocks + 1).astype(int)
    result = {}
    for k, name in enumerate(REGIONS):
        hit = (r == k) * w
        total = hit.sum() / w.sum()
        means = np.array([hit[a:b].sum() / max(w[a:b].sum(), 1e-300) for a, b in zip(edges[:-1], edges[1:])])
        result[name] = (float(total), float(means.std(ddof=1) / math.sqrt(blocks)))
    return result


def free_energy_map(phi, psi, bins=60, weights=None):
    """F / kT on a bins x bins grid over the plane: -ln of the (weighted) 2-D histogram of the frames,
    min 0, NaN for empty bins. Returns (edges in degrees, F indexed [phi bin, psi bin])."""
    edges = np.linspace(-180.0, 180.0, bins + 1)
    h, _, _ = np.histogram2d(_wrap(phi), _wrap(psi), bins=(edges, edges), weights=weights)
    with np.errstate(divide="ignore"):
        free = -np.log(h / h.sum())
    free -= free[np.isfinite(free)].min()
    return edges, np.where(np.isfinite(free), free, np.nan)


def core_sequence(phi, psi):
    """Core name of every frame, or None outside all cores."""
    phi, psi = _wrap(phi), _wrap(psi)
    seq = np.full(phi.shape, None, dtype=object)
    for name, boxes in CORES.items():
        for p0, p1, s0, s1 in boxes:
            seq[(phi >= p0) & (phi < p1) & (psi >= s0) & (psi < s1)] = name
    return seq


def count_transitions(phi, psi):
    """Number of transitions between cores, and the count for each ordered pair ('beta->alpha_R', ...)."""
    last = None
    total = 0
    pairs = {}
    for core in core_sequence(phi, psi):
        if core is None:
            continue
        if last is not None and core != last:
            total += 1
            key = "%s->%s" % (last, core)
            pairs[key] = pairs.get(key, 0) + 1
        last = core
    return total, pairs


def compare(reference, other):
    """z-scores (difference over combined standard error) of two populations() results, per region."""
    out = {}
    for name in REGIONS:
        (p, e), (q, f) = reference[name], other[name]
        out[name] = (q - p) / math.sqrt(e * e + f * f) if e > 0 or f > 0 else (0.0 if p == q else math.inf)
    return out
