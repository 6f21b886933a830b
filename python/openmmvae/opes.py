"""OPES (on-the-fly probability enhanced sampling, Invernizzi and Parrinello, J. Phys. Chem. Lett. 11,
2731 (2020), the OPES_METAD variant) along the latent z of a VAECVForce whose energy is a LatentGrid
bias, so the network runs once per MD step and the bias is interpolated inside the kernel.

    force = openmmvae.VAECVForce("model.pt")
    grid = openmmvae.LatentGrid([-2.0], [2.0], [201], [False])
    opes = openmmvae.OPES(system, force, grid, temperature=300, barrier=30, pace=500, sigma=[0.05])
    simulation = openmm.app.Simulation(topology, system, integrator)   # after OPES added the force
    opes.step(simulation, 1000000)
    opes.getFreeEnergy()          # F on the grid points, kJ/mol
    opes.save("opes.json")        # ... later: opes.load("opes.json", simulation)

The method (every `pace` steps, at the current latent s):
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
factor including infinity (uniform target), restart files holding the full state. Not implemented:
adaptive sigma (PLUMED's SIGMA=ADAPTIVE measures the CV variance every step; here the CV is read only
at deposition), the kernel cutoff (kernels are untruncated Gaussians; the cutoff is a speed-up whose
tail eps regularises anyway), neighbour lists, OPES_EXPLORE, multiple walkers, NO_ZED, the work.

Where the bias lives: P is summed on the grid points by LatentGrid.addGaussian (C++) and V = f(P) is
written to the grid that VAECVForce interpolates (tensor-product cubic Hermite; harmonic walls beyond
non-periodic edges, see LatentGrid). The weight of a deposition uses the bias actually applied (the
interpolated grid at s), so reweighting stays consistent with what was sampled. The grid is rebuilt
from all kernels at every deposition (cost: kernels x grid points exponentials in C++), which keeps
the state a pure function of the kernel list and makes restarts exact.

Free energy (getFreeEnergy): F(s) = -(1/beta) ln P(s) on the grid points, the reweighting estimate
that OPES builds on the fly (at convergence it equals -V(s)/(1 - 1/gamma) up to the eps term and a
constant). reweightedHistogram() gives the plain histogram estimate from the deposition-time samples,
weighted by exp(beta V(s_t)).
"""

import json
import math

import numpy as np

from openmm import unit

__all__ = ["OPES", "OPESEstimator"]

_BOLTZMANN = unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin)
_STATE_FORMAT = "openmmvae-opes-1"


def _value(quantity, unit_):
    return quantity.value_in_unit(unit_) if unit.is_quantity(quantity) else quantity


class OPESEstimator:
    """The OPES_METAD estimator without OpenMM objects: kernels, weights, Z and the bias formula.

    Parameters: temperature (K), barrier (kJ/mol, > 0), sigma (initial kernel widths, one per latent
    dimension), periods (None, or per dimension the period of a periodic coordinate or None),
    biasFactor (gamma > 1, or math.inf; default beta * barrier), compressionThreshold (in sigma
    units, 0 switches compression off), fixedSigma, sigmaMin (per dimension floors of the shrinking).
    """

    def __init__(self, temperature, barrier, sigma, periods=None, biasFactor=None, compressionThreshold=1.0,
                 fixedSigma=False, sigmaMin=None):
        temperature = float(_value(temperature, unit.kelvin))
        barrier = float(_value(barrier, unit.kilojoule_per_mole))
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

    def probabilityOnGrid(self, grid):
        """P at the points of `grid` (a LatentGrid, overwritten with sum_k h_k G_k by its C++
        addGaussian, minimum images on its periodic dimensions), as a flat numpy array."""
        grid.setValues([0.0] * grid.getNumPoints())
        for center, sigma, height in zip(self.centers, self.sigmas, self.heights):
            grid.addGaussian(center.tolist(), sigma.tolist(), float(height))
        return np.array(grid.getValues()) / self.sumWeights

    @property
    def effectiveSampleSize(self):
        return (1.0 + self.sumWeights) ** 2 / (1.0 + self.sumWeights2)

    @property
    def numKernels(self):
        return self.heights.size

    # ---- deposition ----
    def deposit(self, center, appliedBias):
        """One OPES update at latent point `center` where the bias `appliedBias` (kJ/mol) acted."""
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
        self.addKernel(center, sigma, height)
        self.zed = float(self.probability(self.centers).mean())

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
        """Add a kernel, compressing it into the nearest one within the threshold (recursively)."""
        center, sigma = self._wrap(np.array(center, dtype=float)), np.array(sigma, dtype=float)
        k = self._nearestWithinThreshold(center)
        if k is None:
            self.centers = np.vstack([self.centers, center])
            self.sigmas = np.vstack([self.sigmas, sigma])
            self.heights = np.append(self.heights, height)
            return
        while True:
            c, s, h = self.mergeKernels(self.centers[k], self.sigmas[k], self.heights[k], center, sigma, height)
            self.centers[k], self.sigmas[k], self.heights[k] = c, s, h
            other = self._nearestWithinThreshold(c, exclude=k)
            if other is None:
                return
            # the merged kernel absorbs its new neighbour: remove `other`, merge it into k
            center, sigma, height = self.centers[other].copy(), self.sigmas[other].copy(), self.heights[other]
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


class OPES:
    """OPES_METAD along the latent of a VAECVForce (see the module docstring for the method).

    OPES(system, force, grid, temperature, barrier, pace, sigma, biasFactor=None,
         compressionThreshold=1.0, fixedSigma=False, sigmaMin=None)

    system: the openmm.System to simulate; force: a VAECVForce, added to the System here unless it
    is in it already, and switched to GridBias mode on a copy of `grid` (a LatentGrid whose geometry
    sets where the bias is tabulated; periodic dimensions make periodic kernels). temperature (K),
    barrier (kJ/mol, the expected barrier Delta E), pace (MD steps between depositions), sigma (initial
    kernel widths in latent units); the rest as in OPESEstimator. Create the Simulation / Context after
    this constructor (the force must be in the System), then advance it with step().
    """

    def __init__(self, system, force, grid, temperature, barrier, pace, sigma, biasFactor=None,
                 compressionThreshold=1.0, fixedSigma=False, sigmaMin=None):
        from .openmmvae import LatentGrid, VAECVForce

        if not isinstance(force, VAECVForce):
            raise TypeError("OPES: force must be an openmmvae.VAECVForce, got %s" % type(force).__name__)
        if not isinstance(grid, LatentGrid):
            raise TypeError("OPES: grid must be an openmmvae.LatentGrid, got %s" % type(grid).__name__)
        if int(pace) != pace or pace < 1:
            raise ValueError("OPES: pace must be a positive number of steps, got %r" % (pace,))
        dimensions = grid.getNumDimensions()
        if len(np.atleast_1d(sigma)) != dimensions:
            raise ValueError("OPES: sigma has %d entries, the grid %d dimensions" % (len(np.atleast_1d(sigma)), dimensions))
        periods = [maxs - mins if periodic else None
                   for mins, maxs, periodic in zip(grid.getMins(), grid.getMaxs(), grid.getPeriodic())]
        self.estimator = OPESEstimator(temperature, barrier, sigma, periods, biasFactor, compressionThreshold,
                                       fixedSigma, sigmaMin)
        self.pace = int(pace)
        self.force = force
        self._grid = LatentGrid(grid.getMins(), grid.getMaxs(), grid.getSizes(), grid.getPeriodic())
        self._grid.setWallForceConstant(grid.getWallForceConstant())
        self._kernelGrid = LatentGrid(grid.getMins(), grid.getMaxs(), grid.getSizes(), grid.getPeriodic())
        self._points = np.array([self._grid.getPoint(i) for i in range(self._grid.getNumPoints())])
        self._probability = np.zeros(self._grid.getNumPoints())
        self.samples = []  # (s, bias applied at s) at each deposition
        self._refreshGrid()
        force.useGridBias(self._grid)
        if not any(system.getForce(i).this == force.this for i in range(system.getNumForces())):
            system.addForce(force)

    # ---- grid ----
    def _refreshGrid(self):
        """P on the grid points (sum of the kernels by LatentGrid.addGaussian), then V = f(P) into the bias grid."""
        self._probability = self.estimator.probabilityOnGrid(self._kernelGrid)
        self._grid.setValues(self.estimator.biasFromProbability(self._probability).tolist())

    def _push(self, context):
        self.force.useGridBias(self._grid)
        if context is not None:
            self.force.updateParametersInContext(context)

    # ---- running ----
    def step(self, simulation, steps):
        """Advance simulation (openmm.app.Simulation) by `steps` steps, depositing a kernel whenever
        simulation.currentStep is a multiple of pace."""
        remaining = int(steps)
        while remaining > 0:
            chunk = min(remaining, self.pace - simulation.currentStep % self.pace)
            simulation.step(chunk)
            remaining -= chunk
            if simulation.currentStep % self.pace == 0:
                self.deposit(simulation.context)

    def deposit(self, context):
        """One OPES update at the Context's current latent value (one network evaluation)."""
        s = list(self.force.getCollectiveVariableValues(context))
        applied, _ = self._grid.evaluate(s)
        self.samples.append((s, applied))
        self.estimator.deposit(s, applied)
        self._refreshGrid()
        self._push(context)

    # ---- results ----
    def getGridPoints(self):
        """The latent coordinates of the grid points, shape sizes + [d] (row-major like the values)."""
        return self._points.reshape(list(self._grid.getSizes()) + [self.estimator.dimensions])

    def getBias(self):
        """The bias V on the grid points (kJ/mol), shape = the grid sizes."""
        return np.array(self._grid.getValues()).reshape(self._grid.getSizes())

    def getFreeEnergy(self):
        """F(s) = -(1/beta) ln P(s) on the grid points (kJ/mol, min 0, +inf where P = 0), shape = the grid
        sizes: the reweighted kernel density estimate of OPES."""
        with np.errstate(divide="ignore"):
            free_energy = -self.estimator.kT * np.log(self._probability)
        if np.any(np.isfinite(free_energy)):
            free_energy -= free_energy[np.isfinite(free_energy)].min()
        return free_energy.reshape(self._grid.getSizes())

    def reweightedHistogram(self, edges, skip=0):
        """F (kJ/mol, min 0, +inf for empty bins) of a 1-D latent from the deposition-time samples after
        the first `skip`, each weighted by exp(beta V(s_t)) with V the bias applied at that time."""
        if self.estimator.dimensions != 1:
            raise ValueError("OPES.reweightedHistogram: a 1-D latent is needed, this one has %d dimensions"
                             % self.estimator.dimensions)
        samples = self.samples[skip:]
        if not samples:
            raise ValueError("OPES.reweightedHistogram: no samples after skipping %d of %d" % (skip, len(self.samples)))
        s = np.array([sample[0][0] for sample in samples])
        log_weights = self.estimator.beta * np.array([sample[1] for sample in samples])
        histogram, _ = np.histogram(s, bins=edges, weights=np.exp(log_weights - log_weights.max()))
        with np.errstate(divide="ignore"):
            free_energy = -self.estimator.kT * np.log(histogram)
        return free_energy - free_energy[np.isfinite(free_energy)].min()

    # ---- restart ----
    def _geometry(self):
        grid = self._grid
        return {"mins": list(grid.getMins()), "maxs": list(grid.getMaxs()), "sizes": list(grid.getSizes()),
                "periodic": [bool(p) for p in grid.getPeriodic()], "wall_force_constant": grid.getWallForceConstant()}

    def save(self, path):
        """Write the full state (parameters, grid geometry, kernels, weight sums, Z, samples) as JSON;
        load() restores it exactly (floats are written with round-trip precision)."""
        document = {"format": _STATE_FORMAT, "pace": self.pace, "grid": self._geometry(),
                    "parameters": self.estimator.parameters(), "state": self.estimator.state(),
                    "samples": [[list(s), v] for s, v in self.samples]}
        with open(path, "w") as f:
            json.dump(document, f)

    def load(self, path, simulation=None):
        """Restore a state written by save() into this OPES (same grid and parameters, else ValueError
        naming the difference); the bias is rebuilt from the kernels and pushed into simulation's
        Context if given."""
        with open(path) as f:
            document = json.load(f)
        if document.get("format") != _STATE_FORMAT:
            raise ValueError("OPES.load: %s is not an OPES state file (format %r)" % (path, document.get("format")))
        for name, mine, theirs in [("grid", self._geometry(), document["grid"]),
                                   ("parameters", self.estimator.parameters(), document["parameters"]),
                                   ("pace", self.pace, document["pace"])]:
            if mine != theirs:
                raise ValueError("OPES.load: %s of %s differ from this OPES: %r in the file, %r here" % (name, path, theirs, mine))
        self.estimator.setState(document["state"])
        self.samples = [(list(s), float(v)) for s, v in document["samples"]]
        self._refreshGrid()
        self._push(simulation.context if simulation is not None else None)

    # ---- figure ----
    def plotFreeEnergy(self, path, exact=None, dpi=100):
        """A PNG of F on the grid (1-D: a line; 2-D: filled contours; kJ/mol). `exact` = (z, F in kJ/mol)
        adds a reference curve to a 1-D plot."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        free_energy = self.getFreeEnergy()
        points = self.getGridPoints()
        figure, axes = plt.subplots(figsize=(5, 3.6))
        if self.estimator.dimensions == 1:
            axes.plot(points[:, 0], free_energy, label="OPES, -kT ln P")
            if exact is not None:
                axes.plot(exact[0], exact[1], "k--", label="exact")
                axes.legend()
            axes.set_xlabel("z")
            axes.set_ylabel("F (kJ/mol)")
        elif self.estimator.dimensions == 2:
            shown = np.where(np.isfinite(free_energy), free_energy, np.nan)
            contour = axes.contourf(points[..., 0], points[..., 1], shown, levels=20)
            figure.colorbar(contour, ax=axes, label="F (kJ/mol)")
            axes.set_xlabel("z0")
            axes.set_ylabel("z1")
        else:
            raise ValueError("OPES.plotFreeEnergy: 1-D or 2-D latents only, this one has %d" % self.estimator.dimensions)
        axes.set_title("OPES free energy, %d kernels" % self.estimator.numKernels)
        figure.tight_layout()
        figure.savefig(path, dpi=dpi)
        plt.close(figure)
