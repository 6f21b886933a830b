"""Unbiasing umbrella windows along a latent coordinate by WHAM (Kumar et al., J. Comput. Chem. 13,
1011 (1992)), for the harmonic windows of VAECVForce.useHarmonicRestraint.

    result = wham(samples, centers, kappa, kT, edges)   # samples[k]: z values of window k
    result.free_energy        # F(z) per bin in kT, min 0 (+inf for empty bins)
    result.frame_weights(z)   # unbiased weights of all frames (concatenated windows), sum 1

Window k biases with w_k(z) = kappa_k / 2 (z - c_k)^2 (kJ/mol, like the force); kT in kJ/mol.
"""

import numpy as np

__all__ = ["WhamResult", "wham"]


class WhamResult:
    """Free energy per bin (kT, min 0), the window free energies f_k (kT) and the bin edges."""

    def __init__(self, edges, free_energy, window_free_energies, centers, kappas, kT, counts):
        self.edges = edges
        self.free_energy = free_energy
        self.window_free_energies = window_free_energies
        self.centers = centers
        self.kappas = kappas
        self.kT = kT
        self.counts = counts  # frames per window

    @property
    def bin_centers(self):
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def frame_weights(self, z):
        """Unbiased weights (sum 1) of frames at z (all windows' frames together): 1 / sum_k N_k e^(f_k - w_k(z)/kT)."""
        z = np.asarray(z, dtype=float)
        bias = _bias(z, self.centers, self.kappas, self.kT)
        denominator = np.sum(self.counts[:, None] * np.exp(self.window_free_energies[:, None] - bias), axis=0)
        weights = 1.0 / denominator
        return weights / weights.sum()


def _bias(z, centers, kappas, kT):
    """w_k(z) / kT, [K, n]."""
    return 0.5 * kappas[:, None] * (np.asarray(z)[None, :] - centers[:, None]) ** 2 / kT


def wham(samples, centers, kappa, kT, edges, iterations=100000, tolerance=1e-9):
    """WHAM of harmonic windows; `kappa` is one force constant or one per window (kJ/mol per z^2)."""
    centers = np.asarray(centers, dtype=float)
    kappas = np.broadcast_to(np.asarray(kappa, dtype=float), centers.shape).copy()
    edges = np.asarray(edges, dtype=float)
    if len(samples) != centers.size:
        raise ValueError("wham: %d sample arrays for %d windows" % (len(samples), centers.size))
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError("wham: edges must be increasing bin edges")
    if not kT > 0:
        raise ValueError("wham: kT must be positive, got %r" % (kT,))
    counts = np.array([np.histogram(np.asarray(z, dtype=float), bins=edges)[0] for z in samples], dtype=float)
    n = counts.sum(axis=1)
    if np.any(n == 0):
        raise ValueError("wham: window(s) %s have no samples inside the edges" % np.flatnonzero(n == 0).tolist())
    bias = _bias(0.5 * (edges[1:] + edges[:-1]), centers, kappas, kT)  # [K, nb]
    total = counts.sum(axis=0)
    f = np.zeros(centers.size)
    for _ in range(iterations):
        # log-sum-exp forms: the biases of far windows reach hundreds of kT
        log_denominator = np.logaddexp.reduce(np.log(n)[:, None] + f[:, None] - bias, axis=0)
        with np.errstate(divide="ignore"):
            log_p = np.log(total) - log_denominator
        f_new = -np.logaddexp.reduce(log_p[None, :] - bias, axis=1)
        f_new -= f_new[0]
        converged = np.max(np.abs(f_new - f)) < tolerance
        f = f_new
        if converged:
            break
    free = -(log_p - np.logaddexp.reduce(log_p))
    free = free - free[np.isfinite(free)].min()
    return WhamResult(edges, free, f, centers, kappas, kT, n)
