"""What LatentMetadynamics and OPES share: a VAECVForce in GridBias mode added to the System, the run
loop that deposits every `frequency` steps, the grid getters and the free-energy plot."""

import os

import numpy as np

from openmm import unit

from .openmmvae import LatentGrid, VAECVForce


def make_grid(spec, owner):
    """A LatentGrid (values 0) from a LatentGrid (geometry and wall copied) or (mins, maxs, sizes, periodic)."""
    if isinstance(spec, LatentGrid):
        grid = LatentGrid(spec.getMins(), spec.getMaxs(), spec.getSizes(), spec.getPeriodic())
        grid.setWallForceConstant(spec.getWallForceConstant())
        return grid
    try:
        mins, maxs, sizes, periodic = spec
    except (TypeError, ValueError):
        raise ValueError("%s: grid must be a LatentGrid or (mins, maxs, sizes, periodic), got %r" % (owner, spec))
    return LatentGrid([float(v) for v in mins], [float(v) for v in maxs], [int(v) for v in sizes], [bool(v) for v in periodic])


class LatentGridBiasMethod(object):
    """Base of the enhanced-sampling methods whose bias is a LatentGrid inside one VAECVForce.

    The constructor arguments every subclass takes first:

    system : openmm.System
        The System to bias; the VAECVForce is added to it here (before the Simulation is created).
    force : VAECVForce, str, bytes or os.PathLike
        The CV: a VAECVForce not yet in a System, or a bundle (path or bytes) to create one from.
    grid : LatentGrid or (mins, maxs, sizes, periodic)
        Where the bias is tabulated (see LatentGrid); a LatentGrid's values are ignored, its geometry
        and wall force constant are used.
    atoms : list of int, optional (keyword)
        The System atoms fed to the model when `force` is a bundle (default: the bundle's metadata).

    Subclasses call _createForce() then _attach(), define _deposit(z) (update self._grid and call
    self._force.useGridBias(self._grid)) and getFreeEnergy()."""

    _name = "LatentGridBiasMethod"

    def _createForce(self, force, grid, atoms):
        """The VAECVForce (from a bundle path/bytes or as given) and self._grid, their sizes checked."""
        if isinstance(force, (str, bytes, os.PathLike)):
            force = VAECVForce(os.fspath(force) if isinstance(force, os.PathLike) else force)
            if atoms is not None:
                force.setAtoms(atoms)
        elif not isinstance(force, VAECVForce):
            raise TypeError("%s: force must be a VAECVForce or a bundle (path or bytes), got %s" % (self._name, type(force).__name__))
        self._grid = make_grid(grid, self._name)
        dims = self._grid.getNumDimensions()
        latent = force.getNumLatentDimensions()
        if latent != dims:
            raise ValueError("%s: the grid has %d dimension(s) but the latent space has %d" % (self._name, dims, latent))
        return force

    def _attach(self, system, force):
        force.useGridBias(self._grid)
        system.addForce(force)
        self._force = force
        self._system = system

    # ---- the run ----
    def step(self, simulation, steps):
        """Advance `simulation` (an openmm.app.Simulation of the System) by `steps` steps, depositing
        every `frequency` steps (counted by simulation.currentStep)."""
        context = simulation.context
        self._force.updateParametersInContext(context)  # the Context may predate a loadBias()
        remaining = int(steps)
        while remaining > 0:
            chunk = min(remaining, self.frequency - simulation.currentStep % self.frequency)
            simulation.step(chunk)
            remaining -= chunk
            if simulation.currentStep % self.frequency == 0:
                self._deposit(self._force.getCollectiveVariableValues(context))
                self._force.updateParametersInContext(context)

    # ---- results ----
    def getCollectiveVariables(self, simulation):
        """The latent mean z (list of L floats) at the current positions of `simulation`."""
        return self._force.getCollectiveVariableValues(simulation.context)

    def getForce(self):
        """The VAECVForce (in the System) that applies the bias."""
        return self._force

    def getGrid(self):
        """A copy of the bias grid (LatentGrid, values V in kJ/mol)."""
        return self._grid.__copy__()

    def getBias(self):
        """V on the grid points: a Quantity (kJ/mol) of a numpy array of shape sizes."""
        return self._biasValues() * unit.kilojoule_per_mole

    def _biasValues(self):
        """V on the grid points in kJ/mol, a plain numpy array of shape sizes."""
        return np.array(self._grid.getValues()).reshape(self._grid.getSizes())

    def getGridPoints(self):
        """The grid coordinates per dimension: a list of L 1-D numpy arrays."""
        axes = []
        for lo, hi, n, periodic in zip(self._grid.getMins(), self._grid.getMaxs(), self._grid.getSizes(), self._grid.getPeriodic()):
            axes.append(lo + np.arange(n) * (hi - lo) / (n if periodic else n - 1))
        return axes

    def _plotFreeEnergy(self, path, kT, title, label, exact=None, shownMax=None):
        """A PNG of F / kT (getFreeEnergy()): a curve for L = 1 (`exact` = (z, F kJ/mol) dashed), filled
        contours for L = 2, and for L > 2 the first two dimensions with the others integrated out;
        values above `shownMax` (in kT) are cut."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        free = self.getFreeEnergy().value_in_unit(unit.kilojoule_per_mole)
        axes = self.getGridPoints()
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        if free.ndim == 1:
            ax.plot(axes[0], free / kT, color="k", label=label)
            if exact is not None:
                ax.plot(exact[0], np.asarray(exact[1]) / kT, "r--", label="exact")
                ax.legend()
            ax.set_xlabel("z0")
            ax.set_ylabel("F / kT")
            if shownMax is not None:
                ax.set_ylim(-0.5, shownMax)
        else:
            if free.ndim > 2:
                with np.errstate(divide="ignore"):
                    free = -kT * np.log(np.exp(-free / kT).sum(axis=tuple(range(2, free.ndim))))
                free -= free[np.isfinite(free)].min()
            shown = free / kT if shownMax is None else np.minimum(free / kT, shownMax)
            shown = np.where(np.isfinite(shown), shown, np.nan)
            image = ax.contourf(axes[0], axes[1], shown.T, levels=30, cmap="viridis")
            fig.colorbar(image, ax=ax, label="F / kT")
            ax.set_xlabel("z0")
            ax.set_ylabel("z1")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
