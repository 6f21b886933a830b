"""OPES (on-the-fly probability enhanced sampling, Invernizzi and Parrinello, J. Phys. Chem. Lett. 11,
2731 (2020), the OPES_METAD variant) along the latent z of a VAECVForce whose energy is a LatentGrid
bias, so the network runs once per MD step and the bias is interpolated inside the kernel.

    opes = OPES(system, "model.pt", ([-2.0], [2.0], [201], [False]), sigma=[0.05], barrier=30.0,
                temperature=300, frequency=500)       # the interface of LatentMetadynamics
    simulation = app.Simulation(topology, system, integrator)    # any integrator, VAEMCIntegrator too
    opes.step(simulation, 1000000)
    F = opes.getFreeEnergy()                                      # kJ/mol on the grid points
    opes.saveBias("opes.json"); opes.plotFreeEnergy("free_energy.png")

The method (every `frequency` steps, PLUMED's PACE, at the current latent s):
- weight w = exp(beta V(s)) with V the bias applied at s; sums S1 = sum w, S2 = sum w^2 (started
  at w0 = eps^(1 - 1/gamma) and w0^2 with one count, as in PLUMED); N_eff = (1 + S1)^2 / (1 + S2);
- a new Gaussian kernel at s: sigma = sigma0 * max((N_eff (d + 2) / 4)^(-1/(d + 4)), sigmaMin/sigma0)
  per dimension (the published shrinking, unless fixedSigma) and height w / prod(sigma / sigma0);
- compression: the existing kernel nearest to the new one, |s - c_k|/sigma_k in the existing kernel's
  sigma units, absorbs it if that distance is below the compression threshold, with
  h = h1 + h2, c = (h1 c1 + h2 c2) / h, sigma^2 = (h1 (sigma1^2 + c1^2) + h2 (sigma2^2 + c2^2)) / h - c^2
  (per dimension, periodic centres unwrapped next to c1 first); the merged kernel is merged again while
  another kernel lies within the threshold (recursive merge);
- P(s) = sum_k h_k G_k(s) / S1, the reweighted kernel density estimate of the unbiased distribution;
  Z = the mean of P over the kernel centres; with gamma = bias factor (default beta * barrier) and
  eps = exp(-beta barrier / (1 - 1/gamma)), V(s) = (1 - 1/gamma)/beta ln(P(s)/Z + eps).
Before the first kernel V = (1 - 1/gamma)/beta ln(eps) = -barrier everywhere (a constant).

Implemented here: the estimator above (1 to 4 latent dimensions, periodic ones with minimum images),
fixed initial SIGMA with the N_eff shrinking, SIGMA_MIN, FIXED_SIGMA, recursive compression, bias
factor including infinity (uniform target), restart files holding the full state. Left out of this implementation:
adaptive sigma (PLUMED's SIGMA=ADAPTIVE measures the CV variance every step; here the CV is read only
at deposition), the kernel cutoff (kernels are untruncated Gaussians; the cutoff is a speed-up whose
tail eps regularises anyway), neighbour lists, OPES_EXPLORE, multiple walkers, NO_ZED, the work.

Where the bias lives: P is summed on the grid points by LatentGrid.addGaussian (C++) and V = f(P) is
written to the grid that VAECVForce interpolates (tensor-product cubic Hermite; harmonic walls beyond
non-periodic edges, see LatentGrid). The weight of a deposition uses the bias actually applied (the
interpolated grid at s, walls included), so reweighting stays consistent with what was sampled
(PLUMED uses the kernel sum at s; the two differ by the interpolation error). The kernel sum on the
grid is updated incrementally at each deposition (the new kernel added; on compression the merged
kernels subtracted and the merged one added), so a deposition costs a few Gaussians on the grid
whatever the number of kernels; the restart file carries that sum, so restarts are exact.

Free energy (getFreeEnergy): F(s) = -(1/beta) ln P(s) on the grid points, the reweighting estimate
that OPES builds on the fly (at convergence it equals -V(s)/(1 - 1/gamma) up to the eps term and a
constant). reweightedHistogram() gives the plain histogram estimate from the deposition-time samples,
weighted by exp(beta V(s_t)).
"""

import json
import math

import numpy as np

from openmm import unit

from . import _util
from ._grid_bias import LatentGridBiasMethod

__all__ = ["OPES", "OPESEstimator"]

_BOLTZMANN = unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin)
_STATE_FORMAT = "openmmvae-opes-1"


class OPESEstimator:
    """The OPES_METAD estimator without OpenMM objects: kernels, weights, Z and the bias formula.

    Parameters: temperature (K), barrier (kJ/mol, > 0), sigma (initial kernel widths, one per latent
    dimension), periods (None, or per dimension the period of a periodic coordinate or None),
    biasFactor (gamma > 1, or math.inf; default beta * barrier), compressionThreshold (in sigma
    units, 0 switches compression off), fixedSigma, sigmaMin (per dimension floors of the shrinking).
    """

    def __init__(self, temperature, barrier, sigma, periods=None, biasFactor=None, compressionThreshold=1.0,
                 fixedSigma=False, sigmaMin=None):
        temperature = float(_util._strip(temperature, unit.kelvin, "temperature"))
        barrier = float(_util._strip(barrier, unit.kilojoule_per_mole, "barrier"))
        if not temperature > 0 or not math.isfinite(temperature):
            raise ValueError("OPES: temperature must be positive and finite, got %r" % (temperature,))
        if not barrier > 0 or not math.isfinite(barrier):
            raise ValueError("OPES: barrier must be positive and finite (kJ/mol), got %r" % (barrier,))
        self.sigma0 = np.array(sigma, dtype=float).reshape(-1)
        self.dimensions = self.sigma0.size
        if not 1 <= self.dimensions <= 4:
            raise ValueError("OPES: sigma needs 1 to 4 entries (one per latent dimension), got %d" % self.dimensions)
        for d, s in enumerate(self.sigma0):
            if not s > 0 or not math.isfinite(s):
                raise ValueError("OPES: sigma[%d] must be positive and finite, got %r" % (d, s))
        self.periods = [None] * self.dimensions if periods is None else [None if p is None else float(p) for p in periods]
        if len(self.periods) != self.dimensions:
            raise ValueError("OPES: periods has %d entries, sigma %d" % (len(self.periods), self.dimensions))
        for d, p in enumerate(self.periods):
            if p is not None and not p > 0:
                raise ValueError("OPES: the period of dimension %d must be positive, got %r" % (d, p))
        self.kT = _BOLTZMANN * temperature
        self.beta = 1.0 / self.kT
        self.temperature = temperature
        self.barrier = barrier
        self.biasFactor = self.beta * barrier if biasFactor is None else float(biasFactor)
        if not self.biasFactor > 1:
            raise ValueError("OPES: the bias factor must be > 1 (or math.inf for a uniform target), got %r "
                             "(the default is barrier/kT = %r)" % (self.biasFactor, self.beta * barrier))
        self.prefactor = 1.0 - 1.0 / self.biasFactor  # 1 - 1/gamma (1 for gamma = inf)
        self.epsilon = math.exp(-self.beta * barrier / self.prefactor)
        if self.epsilon == 0:
            raise ValueError("OPES: epsilon = exp(-beta barrier / (1 - 1/gamma)) underflows; barrier %r kJ/mol is "
                             "too high for kT = %r kJ/mol" % (barrier, self.kT))
        self.compressionThreshold = float(compressionThreshold)
        if not self.compressionThreshold >= 0:
            raise ValueError("OPES: compressionThreshold must be >= 0, got %r" % (compressionThreshold,))
        self.fixedSigma = bool(fixedSigma)
        self.sigmaMin = None if sigmaMin is None else np.array(sigmaMin, dtype=float).reshape(-1)
        if self.sigmaMin is not None and (self.sigmaMin.size != self.dimensions or np.any(self.sigmaMin <= 0)):
            raise ValueError("OPES: sigmaMin needs %d positive entries, got %r" % (self.dimensions, sigmaMin))
        # state (PLUMED's starting values: one count of weight w0 = eps^(1-1/gamma), Z = 1)
        self.centers = np.zeros((0, self.dimensions))
        self.sigmas = np.zeros((0, self.dimensions))
        self.heights = np.zeros(0)
        self.counter = 1
        self.sumWeights = self.epsilon ** self.prefactor
        self.sumWeights2 = self.sumWeights ** 2
        self.zed = 1.0

    # ---- the formulas ----
    def _differences(self, points, centers):
        """points [P, d] - centers [K, d] -> [P, K, d], minimum image on periodic dimensions."""
        delta = points[:, None, :] - centers[None, :, :]
        for d, period in enumerate(self.periods):
            if period is not None:
                delta[..., d] -= period * np.round(delta[..., d] / period)
        return delta

    def kernelSum(self, points):
        """sum_k h_k exp(-|(s - c_k)/sigma_k|^2 / 2) at points [P, d] (unnormalised)."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        if self.heights.size == 0:
            return np.zeros(points.shape[0])
        scaled = self._differences(points, self.centers) / self.sigmas[None, :, :]
        return np.exp(-0.5 * (scaled ** 2).sum(axis=2)) @ self.heights

    def probability(self, points):
        """P(s) = kernelSum(s) / S1, the estimate of the unbiased distribution (same unnormalised
        kernels as PLUMED: the 1/((2 pi)^(d/2) sigma0^d) factor cancels in P/Z)."""
        return self.kernelSum(points) / self.sumWeights

    def biasFromProbability(self, probability):
        """V = (1 - 1/gamma)/beta ln(P/Z + eps), kJ/mol."""
        return self.prefactor * self.kT * np.log(np.asarray(probability) / self.zed + self.epsilon)

    def bias(self, points):
        """The OPES bias at points [P, d] from the kernels directly (kJ/mol)."""
        return self.biasFromProbability(self.probability(points))

    def probabilityOnGrid(self, grid, changes=None):
        """P at the points of `grid` (a LatentGrid holding the kernel sum sum_k h_k G_k, summed by its
        C++ addGaussian with minimum images on periodic dimensions), as a flat numpy array. Without
        `changes` the sum is rebuilt from all kernels; with the changes returned by deposit() or
        addKernel() only those Gaussians are added to the grid's current sum."""
        if changes is None:
            grid.setValues([0.0] * grid.getNumPoints())
            changes = zip(self.centers, self.sigmas, self.heights)
        for center, sigma, height in changes:
            grid.addGaussian(np.asarray(center, dtype=float).tolist(), np.asarray(sigma, dtype=float).tolist(), float(height))
        # rounding can leave -1e-16-sized sums where kernels were removed: P >= 0
        return np.maximum(np.array(grid.getValues()), 0.0) / self.sumWeights

    @property
    def effectiveSampleSize(self):
        return (1.0 + self.sumWeights) ** 2 / (1.0 + self.sumWeights2)

    @property
    def numKernels(self):
        return self.heights.size

    # ---- deposition ----
    def deposit(self, center, appliedBias):
        """One OPES update at latent point `center` where the bias `appliedBias` (kJ/mol) acted.
        Returns the change of the kernel sum (see addKernel)."""
        center = np.asarray(center, dtype=float).reshape(-1)
        if center.size != self.dimensions or not np.all(np.isfinite(center)):
            raise ValueError("OPES: the deposition point must have %d finite coordinates, got %r" % (self.dimensions, center))
        if not math.isfinite(appliedBias):
            raise ValueError("OPES: the bias at the deposition point is not finite: %r" % (appliedBias,))
        weight = math.exp(self.beta * appliedBias)
        self.counter += 1
        self.sumWeights += weight
        self.sumWeights2 += weight * weight
        sigma = self.sigma0.copy()
        height = weight
        if not self.fixedSigma:
            rescaling = (self.effectiveSampleSize * (self.dimensions + 2.0) / 4.0) ** (-1.0 / (4.0 + self.dimensions))
            factors = np.full(self.dimensions, rescaling)
            if self.sigmaMin is not None:
                factors = np.maximum(factors, self.sigmaMin / self.sigma0)
            sigma *= factors
            height /= np.prod(factors)
        changes = self.addKernel(center, sigma, height)
        self.zed = float(self.probability(self.centers).mean())
        return changes

    def _wrap(self, center):
        for d, period in enumerate(self.periods):
            if period is not None:
                center[d] -= period * math.floor(center[d] / period + 0.5)
        return center

    def _nearestWithinThreshold(self, center, exclude=None):
        if self.heights.size == 0 or self.compressionThreshold == 0:
            return None
        distances = ((self._differences(center[None, :], self.centers)[0] / self.sigmas) ** 2).sum(axis=1)
        if exclude is not None:
            distances[exclude] = np.inf
        k = int(np.argmin(distances))
        return k if distances[k] < self.compressionThreshold ** 2 else None

    def mergeKernels(self, c1, s1, h1, c2, s2, h2):
        """The published merge: (centre, sigma, height) of kernel 2 absorbed into kernel 1."""
        c1, s1, c2, s2 = (np.asarray(a, dtype=float) for a in (c1, s1, c2, s2))
        c2 = c1 + self._differences(c2[None, :], c1[None, :])[0, 0]  # unwrap next to c1
        h = h1 + h2
        c = (h1 * c1 + h2 * c2) / h
        s2_merged = (h1 * (s1 ** 2 + c1 ** 2) + h2 * (s2 ** 2 + c2 ** 2)) / h - c ** 2
        return self._wrap(c.copy()), np.sqrt(s2_merged), h

    def addKernel(self, center, sigma, height):
        """Add a kernel, compressing it into the nearest one within the threshold (recursively).
        Returns the change of the kernel sum as (centre, sigma, +-height) terms: the kernels that
        disappeared with minus their height, the one that appeared with plus."""
        center, sigma = self._wrap(np.array(center, dtype=float)), np.array(sigma, dtype=float)
        k = self._nearestWithinThreshold(center)
        if k is None:
            self.centers = np.vstack([self.centers, center])
            self.sigmas = np.vstack([self.sigmas, sigma])
            self.heights = np.append(self.heights, height)
            return [(center, sigma, height)]
        changes = [(self.centers[k].copy(), self.sigmas[k].copy(), -self.heights[k])]
        while True:
            c, s, h = self.mergeKernels(self.centers[k], self.sigmas[k], self.heights[k], center, sigma, height)
            self.centers[k], self.sigmas[k], self.heights[k] = c, s, h
            other = self._nearestWithinThreshold(c, exclude=k)
            if other is None:
                return changes + [(c, s, h)]
            # the merged kernel absorbs its new neighbour: remove `other`, merge it into k
            center, sigma, height = self.centers[other].copy(), self.sigmas[other].copy(), self.heights[other]
            changes.append((center, sigma, -height))
            keep = np.arange(self.heights.size) != other
            self.centers, self.sigmas, self.heights = self.centers[keep], self.sigmas[keep], self.heights[keep]
            if other < k:
                k -= 1

    # ---- state ----
    def parameters(self):
        return {"temperature": self.temperature, "barrier": self.barrier, "sigma0": self.sigma0.tolist(),
                "periods": self.periods, "bias_factor": self.biasFactor if math.isfinite(self.biasFactor) else "inf",
                "compression_threshold": self.compressionThreshold, "fixed_sigma": self.fixedSigma,
                "sigma_min": None if self.sigmaMin is None else self.sigmaMin.tolist()}

    def state(self):
        return {"counter": self.counter, "sum_weights": self.sumWeights, "sum_weights2": self.sumWeights2,
                "zed": self.zed, "centers": self.centers.tolist(), "sigmas": self.sigmas.tolist(),
                "heights": self.heights.tolist()}

    def setState(self, state):
        centers = np.array(state["centers"], dtype=float).reshape(-1, self.dimensions)
        sigmas = np.array(state["sigmas"], dtype=float).reshape(-1, self.dimensions)
        heights = np.array(state["heights"], dtype=float).reshape(-1)
        if not centers.shape[0] == sigmas.shape[0] == heights.size:
            raise ValueError("OPES: the state has %d centres, %d sigmas and %d heights"
                             % (centers.shape[0], sigmas.shape[0], heights.size))
        self.centers, self.sigmas, self.heights = centers, sigmas, heights
        self.counter = int(state["counter"])
        self.sumWeights, self.sumWeights2, self.zed = (float(state[k]) for k in ("sum_weights", "sum_weights2", "zed"))


class OPES(LatentGridBiasMethod):
    """OPES_METAD along the latent mean of a VAE bundle (see the module docstring for the method).

    Parameters (system, force, grid and atoms: see LatentGridBiasMethod; periodic grid dimensions
    give periodic kernels)
    ----------
    sigma : list of float
        Initial kernel widths per latent dimension (latent units), shrunk with N_eff unless fixedSigma.
    barrier : float or Quantity
        The expected barrier Delta E (kJ/mol); sets epsilon and the default bias factor.
    temperature : float or Quantity
        The simulation temperature (K).
    frequency : int
        Steps between kernel depositions (PLUMED's PACE).
    biasFactor, compressionThreshold, fixedSigma, sigmaMin :
        As in OPESEstimator (default gamma = barrier / kT, threshold 1 sigma).
    """

    _name = "OPES"

    def __init__(self, system, force, grid, sigma, barrier, temperature, frequency, biasFactor=None,
                 compressionThreshold=1.0, fixedSigma=False, sigmaMin=None, atoms=None):
        from .openmmvae import LatentGrid

        force = self._createForce(force, grid, atoms)
        dims = self._grid.getNumDimensions()
        if len(np.atleast_1d(sigma)) != dims:
            raise ValueError("OPES: sigma must hold %d widths (one per grid dimension), got %r" % (dims, sigma))
        self.frequency = int(frequency)
        if self.frequency < 1 or self.frequency != frequency:
            raise ValueError("OPES: frequency must be a whole number of steps >= 1, got %r" % (frequency,))
        periods = [hi - lo if periodic else None
                   for lo, hi, periodic in zip(self._grid.getMins(), self._grid.getMaxs(), self._grid.getPeriodic())]
        self.estimator = OPESEstimator(temperature, barrier, sigma, periods, biasFactor, compressionThreshold,
                                       fixedSigma, sigmaMin)
        self._kernelGrid = LatentGrid(self._grid.getMins(), self._grid.getMaxs(), self._grid.getSizes(),
                                      self._grid.getPeriodic())
        self._probability = np.zeros(self._grid.getNumPoints())
        self.samples = []  # (z, bias applied at z) at each deposition
        self._force = None
        self._refreshGrid()
        self._attach(system, force)

    # ---- the bias ----
    def _refreshGrid(self, changes=None):
        """P on the grid points (the kernel sum updated by `changes`, or rebuilt from all kernels, by
        LatentGrid.addGaussian in C++), then V = f(P) into the bias grid."""
        self._probability = self.estimator.probabilityOnGrid(self._kernelGrid, changes)
        self._grid.setValues(self.estimator.biasFromProbability(self._probability).tolist())
        if self._force is not None:
            self._force.useGridBias(self._grid)  # the force keeps a copy of the grid

    # ---- the run (step: LatentGridBiasMethod) ----
    def _deposit(self, z):
        applied, _ = self._grid.evaluate(z)  # the bias this configuration felt (interpolated, walls included)
        self.samples.append((list(z), applied))
        self._refreshGrid(self.estimator.deposit(z, applied))

    # ---- results ----
    @property
    def numKernels(self):
        return self.estimator.numKernels

    @property
    def numDepositions(self):
        return self.estimator.counter - 1

    def getFreeEnergy(self):
        """F = -(1/beta) ln P on the grid points (the reweighted kernel density estimate of OPES),
        shifted to min 0, +inf where P = 0: a Quantity (kJ/mol) of shape sizes."""
        with np.errstate(divide="ignore"):
            free = -self.estimator.kT * np.log(self._probability)
        finite = np.isfinite(free)
        if finite.any():
            free = free - free[finite].min()
        return free.reshape(self._grid.getSizes()) * unit.kilojoule_per_mole

    def reweightedHistogram(self, edges, skip=0):
        """F along a 1-D latent from the deposition-time samples after the first `skip`, each weighted by
        exp(beta V(z_t)) with V the bias applied then: a Quantity (kJ/mol) of one value per bin, min 0,
        +inf for empty bins."""
        if self.estimator.dimensions != 1:
            raise ValueError("OPES.reweightedHistogram: a 1-D latent is needed, this one has %d dimensions"
                             % self.estimator.dimensions)
        samples = self.samples[skip:]
        if not samples:
            raise ValueError("OPES.reweightedHistogram: no samples after skipping %d of %d" % (skip, len(self.samples)))
        z = np.array([sample[0][0] for sample in samples])
        log_weights = self.estimator.beta * np.array([sample[1] for sample in samples])
        histogram, _ = np.histogram(z, bins=edges, weights=np.exp(log_weights - log_weights.max()))
        with np.errstate(divide="ignore"):
            free = -self.estimator.kT * np.log(histogram)
        return (free - free[np.isfinite(free)].min()) * unit.kilojoule_per_mole

    # ---- restart ----
    def _geometry(self):
        g = self._grid
        return {"mins": list(g.getMins()), "maxs": list(g.getMaxs()), "sizes": list(g.getSizes()),
                "periodic": [bool(p) for p in g.getPeriodic()], "wallForceConstant": g.getWallForceConstant().value_in_unit(unit.kilojoule_per_mole)}

    def saveBias(self, path):
        """Write the full OPES state (grid geometry, parameters, kernels, weight sums, Z, samples and
        the kernel sum on the grid) as JSON (floats at round-trip precision); loadBias() of it
        reproduces the bias bit for bit, and the continued run matches the uninterrupted one."""
        document = {"format": _STATE_FORMAT, "frequency": self.frequency, "grid": self._geometry(),
                    "parameters": self.estimator.parameters(), "state": self.estimator.state(),
                    "samples": [[list(z), v] for z, v in self.samples],
                    "kernel_sum": list(self._kernelGrid.getValues())}
        with open(path, "w") as f:
            json.dump(document, f)

    def loadBias(self, path, simulation=None):
        """Replace the state by the one saved in `path` (same grid geometry and parameters required,
        else ValueError naming the field). Contexts see it on the next step(); pass `simulation` to
        update its Context at once."""
        with open(path) as f:
            try:
                document = json.load(f)
            except ValueError as error:
                raise ValueError("OPES.loadBias: %s is not a saved OPES state (%s)" % (path, error))
        if not isinstance(document, dict) or document.get("format") != _STATE_FORMAT:
            raise ValueError("OPES.loadBias: %s is not a saved OPES state" % path)
        ours = {"frequency": self.frequency}
        ours.update(self._geometry())
        ours.update(self.estimator.parameters())
        saved = {"frequency": document["frequency"]}
        saved.update(document["grid"])
        saved.update(document["parameters"])
        for name in ours:
            if saved.get(name) != ours[name]:
                raise ValueError("OPES.loadBias: %s in %s is %r, this run has %r" % (name, path, saved.get(name), ours[name]))
        self.estimator.setState(document["state"])
        self.samples = [(list(z), float(v)) for z, v in document["samples"]]
        kernelSum = document["kernel_sum"]
        if len(kernelSum) != self._kernelGrid.getNumPoints():
            raise ValueError("OPES.loadBias: kernel_sum in %s has %d values, the grid %d points"
                             % (path, len(kernelSum), self._kernelGrid.getNumPoints()))
        self._kernelGrid.setValues(kernelSum)  # the sum as it was (updated incrementally), not re-summed
        self._refreshGrid([])
        if simulation is not None:
            self._force.updateParametersInContext(simulation.context)

    def plotFreeEnergy(self, path, title=None, exact=None):
        """A PNG of F / kT along the latent (shown up to 1.5 barriers): a curve for L = 1 (with `exact` =
        (z, F in kJ/mol) as a dashed reference if given), filled contours for L = 2 (L > 2: the first
        two dimensions, the others integrated out)."""
        kT = self.estimator.kT
        self._plotFreeEnergy(path, kT, title or "OPES, %d depositions, %d kernels" % (self.numDepositions, self.numKernels),
                             "OPES, -ln P", exact, shownMax=1.5 * self.estimator.barrier / kT)
