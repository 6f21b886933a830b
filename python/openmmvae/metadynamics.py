"""Well-tempered metadynamics along a VAE latent, with the bias on a LatentGrid inside the force.

The bias is one VAECVForce in GridBias mode: the network is evaluated once per step whatever the
latent size L (1 to 4), and the tabulated bias is interpolated in the force kernel (C1 cubic,
LatentGrid). Every `frequency` steps the current latent mean z is read from the Context and a
Gaussian hill is added to the grid in C++ (LatentGrid.addGaussian) with the well-tempered height

    h = height * exp(-V(z) / (kB * (biasFactor - 1) * T)),

then the new grid values are copied into the running Context (updateParametersInContext; no new
Context). The free energy along z is F(z) = -(biasFactor / (biasFactor - 1)) * V(z) + const
(Barducci, Bussi and Parrinello, PRL 100, 020603 (2008)).

    meta = LatentMetadynamics(system, "model.pt", ([-3, -3], [3, 3], [80, 80], [False, False]),
                              sigma=[0.1, 0.1], height=1.0, biasFactor=10, temperature=300, frequency=500)
    simulation = app.Simulation(topology, system, integrator)    # any integrator, VAEMCIntegrator too
    meta.step(simulation, 100000)
    F = meta.getFreeEnergy()                                      # kJ/mol on the grid points
    meta.saveBias("bias.npz"); meta.plotFreeEnergy("free_energy.png")
"""

import math

import numpy as np

from openmm import unit

from . import _util
from ._grid_bias import LatentGridBiasMethod

__all__ = ["LatentMetadynamics"]

_BOLTZMANN = unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin)


class LatentMetadynamics(LatentGridBiasMethod):
    """Well-tempered metadynamics along the latent mean of a VAE bundle (see the module docstring).

    Parameters (system, force, grid and atoms: see LatentGridBiasMethod)
    ----------
    sigma : list of float
        Hill widths per latent dimension (latent units).
    height : float or Quantity
        Initial hill height (kJ/mol).
    biasFactor : float
        gamma > 1: the CV is sampled as if at temperature gamma * T.
    temperature : float or Quantity
        The simulation temperature (K).
    frequency : int
        Steps between hill depositions.
    """

    _name = "LatentMetadynamics"

    def __init__(self, system, force, grid, sigma, height, biasFactor, temperature, frequency, atoms=None):
        force = self._createForce(force, grid, atoms)
        dims = self._grid.getNumDimensions()
        self.sigma = [float(s) for s in sigma]
        if len(self.sigma) != dims or not all(s > 0 and math.isfinite(s) for s in self.sigma):
            raise ValueError("LatentMetadynamics: sigma must hold %d positive widths, got %r" % (dims, sigma))
        self.height = float(_util._strip(height, unit.kilojoule_per_mole, "height"))
        if not self.height > 0:
            raise ValueError("LatentMetadynamics: height must be positive, got %r" % (height,))
        self.biasFactor = float(biasFactor)
        if not (self.biasFactor > 1 and math.isfinite(self.biasFactor)):
            raise ValueError("LatentMetadynamics: biasFactor must be a finite number > 1, got %r" % (biasFactor,))
        self.temperature = float(_util._strip(temperature, unit.kelvin, "temperature"))
        if not self.temperature > 0:
            raise ValueError("LatentMetadynamics: temperature must be positive, got %r" % (temperature,))
        self.frequency = int(frequency)
        if self.frequency < 1:
            raise ValueError("LatentMetadynamics: frequency must be >= 1, got %r" % (frequency,))
        self.numHills = 0
        self._attach(system, force)

    def _deposit(self, z):
        value, _ = self._grid.evaluate(z)
        height = self.height * math.exp(-value / (_BOLTZMANN * (self.biasFactor - 1) * self.temperature))
        self._grid.addGaussian(z, self.sigma, height)
        self._force.useGridBias(self._grid)
        self.numHills += 1

    # ---- results ----
    def getFreeEnergy(self):
        """F = -(gamma / (gamma - 1)) V on the grid points, shifted to min 0: a Quantity (kJ/mol) of shape sizes."""
        free = -(self.biasFactor / (self.biasFactor - 1)) * self._biasValues()
        return (free - free.min()) * unit.kilojoule_per_mole

    # ---- restart ----
    def saveBias(self, path):
        """Write the grid (geometry, wall, values), the parameters and the hill count to an .npz file;
        loadBias() of it reproduces the bias bit for bit."""
        g = self._grid
        with open(path, "wb") as f:
            np.savez(f, format=np.array("openmmvae.LatentMetadynamics/1"), mins=np.array(g.getMins()), maxs=np.array(g.getMaxs()),
                     sizes=np.array(g.getSizes()), periodic=np.array(g.getPeriodic()), values=np.array(g.getValues()),
                     wallForceConstant=g.getWallForceConstant().value_in_unit(unit.kilojoule_per_mole), sigma=np.array(self.sigma), height=self.height,
                     biasFactor=self.biasFactor, temperature=self.temperature, frequency=self.frequency, numHills=self.numHills)

    def loadBias(self, path, simulation=None):
        """Replace the bias by the one saved in `path` (same grid geometry and parameters required, else
        ValueError naming the field). Contexts see it on the next step(); pass `simulation` to update its
        Context at once."""
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != "openmmvae.LatentMetadynamics/1":
                raise ValueError("LatentMetadynamics.loadBias: %s is not a saved LatentMetadynamics bias" % path)
            g = self._grid
            for name, ours in (("mins", g.getMins()), ("maxs", g.getMaxs()), ("sizes", g.getSizes()), ("periodic", g.getPeriodic()),
                               ("sigma", self.sigma), ("biasFactor", self.biasFactor), ("temperature", self.temperature)):
                saved = np.atleast_1d(data[name]).tolist()
                if saved != list(np.atleast_1d(ours)):
                    raise ValueError("LatentMetadynamics.loadBias: %s in %s is %r, this run has %r" % (name, path, saved, ours))
            g.setValues(data["values"].tolist())
            g.setWallForceConstant(float(data["wallForceConstant"]))
            self.height = float(data["height"])
            self.frequency = int(data["frequency"])
            self.numHills = int(data["numHills"])
        self._force.useGridBias(g)
        if simulation is not None:
            self._force.updateParametersInContext(simulation.context)

    def plotFreeEnergy(self, path, title=None):
        """A PNG of F along the latent: a curve for L = 1, a filled contour for L = 2, and for L > 2 the
        free energy of the first two dimensions (the others integrated out)."""
        self._plotFreeEnergy(path, _BOLTZMANN * self.temperature,
                             title or "well-tempered metadynamics, %d hills" % self.numHills, "metadynamics")
