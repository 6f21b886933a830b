"""The Mueller particle of science.md section 4 as OpenMM objects, and its exact densities.

One definition of the potential is used everywhere in Python (tests, examples, enhanced sampling):
U(x, y) = 0.1 * sum_j A_j exp[a_j (x - X_j)^2 + b_j (x - X_j)(y - Y_j) + c_j (y - Y_j)^2], in units
of kT, with x and y in nm. The OpenMM System built here carries kT_ref * U (kT_ref = R * the
`temperature` given to mueller_system) plus a harmonic restraint on z, so a Langevin run at
temperature T samples exp(-U * T_ref / T) in the plane. The trainer's `--system mueller` data set
samples exp(-U), i.e. T = T_ref.

    system = mueller_system(300.0)                    # one particle, energy 300 K * R * U
    p = exact_density(edges_x, edges_y, 300.0)        # bin probabilities, sum 1
    F = exact_free_energy_along_latent("model.pt", edges_z)   # F(z) in kT, min 0
"""

import numpy as np

import openmm
import openmm.app
from openmm import unit

__all__ = ["MUELLER_PARAMETERS", "MUELLER_EXPRESSION", "MUELLER_SCALE", "PLANE", "START", "kT",
           "mueller_energy", "mueller_system", "one_atom_topology", "exact_density",
           "exact_free_energy_along_latent"]

MUELLER_SCALE = 0.1
# (A, a, b, c, X, Y) of the four terms (science.md section 4).
MUELLER_PARAMETERS = ((-200.0, -1.0, 0.0, -10.0, 1.0, 0.0),
                      (-100.0, -1.0, 0.0, -10.0, 0.0, 0.5),
                      (-170.0, -6.5, 11.0, -6.5, -0.5, 1.5),
                      (15.0, 0.7, 0.6, 0.7, -1.0, 1.0))


def _term_expression(A, a, b, c, X, Y):
    dx, dy = "(x-(%r))" % X, "(y-(%r))" % Y
    return "(%r)*exp((%r)*%s^2+(%r)*%s*%s+(%r)*%s^2)" % (A, a, dx, b, dx, dy, c, dy)


# U(x, y) in kT (Lepton syntax): the same parameters as mueller_energy().
MUELLER_EXPRESSION = "(%r)*(%s)" % (MUELLER_SCALE, " + ".join(_term_expression(*p) for p in MUELLER_PARAMETERS))

# The plane region (nm) used to integrate exp(-U): U on its border is at least 20 kT above the global
# minimum (-14.67 kT at (-0.558, 1.442)), so at T = T_ref it holds all but ~1e-7 of the density.
PLANE = ((-2.5, 1.5), (-1.0, 2.5))
START = openmm.Vec3(-0.55, 1.44, 0.0)  # near the deepest minimum (nm)
Z_RESTRAINT = 500.0  # kJ/mol/nm^2, keeps the particle in the plane z = 0


def kT(temperature):
    """R * temperature in kJ/mol (temperature in K or an openmm.unit quantity)."""
    if unit.is_quantity(temperature):
        temperature = temperature.value_in_unit(unit.kelvin)
    return unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin) * float(temperature)


def mueller_energy(x, y):
    """U(x, y) in kT (numpy, vectorised over broadcastable x and y in nm)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    total = np.zeros(np.broadcast(x, y).shape)
    for A, a, b, c, X, Y in MUELLER_PARAMETERS:
        dx, dy = x - X, y - Y
        total = total + A * np.exp(a * dx * dx + b * dx * dy + c * dy * dy)
    return MUELLER_SCALE * total


def mueller_system(temperature=300.0, mass=10.0):
    """A System of one particle (mass in amu) whose potential is kT(temperature) * U(x, y) + 500 z^2
    (kJ/mol, nm), as a CustomExternalForce."""
    if kT(temperature) <= 0:
        raise ValueError("mueller_system: temperature must be positive, got %r" % (temperature,))
    if unit.is_quantity(mass):
        mass = mass.value_in_unit(unit.dalton)
    if not mass > 0:
        raise ValueError("mueller_system: mass must be positive, got %r" % (mass,))
    system = openmm.System()
    system.addParticle(float(mass))
    force = openmm.CustomExternalForce("kT*(%s) + %r*z^2" % (MUELLER_EXPRESSION, Z_RESTRAINT))
    force.addGlobalParameter("kT", kT(temperature))
    force.addParticle(0, [])
    system.addForce(force)
    return system


def one_atom_topology():
    """An openmm.app.Topology with the single particle of mueller_system (for app.Simulation)."""
    topology = openmm.app.Topology()
    residue = topology.addResidue("PRT", topology.addChain())
    topology.addAtom("P", openmm.app.Element.getBySymbol("Ar"), residue)
    return topology


def _boltzmann_weights(x, y, temperature, reference_temperature):
    """exp(-U * T_ref / T), shifted by the minimum over the points (no overflow)."""
    reduced = mueller_energy(x, y) * (kT(reference_temperature) / kT(temperature))
    return np.exp(-(reduced - reduced.min()))


def exact_density(bins_x, bins_y, temperature=300.0, reference_temperature=300.0, subdivisions=20):
    """Probabilities of the bins (edges bins_x [nx+1], bins_y [ny+1], nm) of the Boltzmann density at
    `temperature` of mueller_system(reference_temperature), normalised over the binned region (sum 1).
    Each bin integrates exp(-U T_ref/T) by the midpoint rule on subdivisions^2 points. Returns [nx, ny]."""
    bins_x, bins_y = np.asarray(bins_x, dtype=float), np.asarray(bins_y, dtype=float)
    for name, edges in (("bins_x", bins_x), ("bins_y", bins_y)):
        if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
            raise ValueError("exact_density: %s must be increasing bin edges, got %r" % (name, edges))
    if subdivisions < 1:
        raise ValueError("exact_density: subdivisions must be >= 1, got %r" % (subdivisions,))
    u = (np.arange(subdivisions) + 0.5) / subdivisions
    # midpoints of every sub-cell, and their areas
    xs = (bins_x[:-1, None] + np.diff(bins_x)[:, None] * u[None, :]).reshape(-1)
    ys = (bins_y[:-1, None] + np.diff(bins_y)[:, None] * u[None, :]).reshape(-1)
    areas = np.outer(np.repeat(np.diff(bins_x) / subdivisions, subdivisions),
                     np.repeat(np.diff(bins_y) / subdivisions, subdivisions))
    weights = _boltzmann_weights(xs[:, None], ys[None, :], temperature, reference_temperature) * areas
    nx, ny = bins_x.size - 1, bins_y.size - 1
    probabilities = weights.reshape(nx, subdivisions, ny, subdivisions).sum(axis=(1, 3))
    return probabilities / probabilities.sum()


def exact_free_energy_along_latent(bundle_path, bin_edges, temperature=300.0, reference_temperature=300.0,
                                   resolution=0.005, plane=PLANE, batch=65536):
    """F(z) in kT at `temperature` along the 1-D latent of an `xy` bundle: exp(-U T_ref/T) integrated
    over `plane` on a grid of spacing `resolution` (nm), each grid point binned by the bundle's encoder
    mean (its TorchScript `latent_mean`) into bin_edges [nb+1]. Returns F [nb] with min 0 and +inf for
    bins no grid point falls in; points outside the edges are dropped."""
    import torch

    edges = np.asarray(bin_edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValueError("exact_free_energy_along_latent: bin_edges must be increasing, got %r" % (edges,))
    if not resolution > 0:
        raise ValueError("exact_free_energy_along_latent: resolution must be positive, got %r" % (resolution,))
    model = torch.jit.load(str(bundle_path), map_location="cpu")
    (x0, x1), (y0, y1) = plane
    xs = np.arange(x0 + 0.5 * resolution, x1, resolution)
    ys = np.arange(y0 + 0.5 * resolution, y1, resolution)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    gx, gy = gx.reshape(-1), gy.reshape(-1)
    weights = _boltzmann_weights(gx, gy, temperature, reference_temperature)
    latent = np.empty(gx.size)
    with torch.no_grad():
        for start in range(0, gx.size, batch):
            stop = min(start + batch, gx.size)
            positions = torch.zeros((stop - start, 1, 3), dtype=torch.float64)
            positions[:, 0, 0] = torch.from_numpy(gx[start:stop])
            positions[:, 0, 1] = torch.from_numpy(gy[start:stop])
            z = model.latent_mean(positions.to(_model_dtype(model)))
            if z.dim() != 2 or z.size(1) != 1:
                raise ValueError("exact_free_energy_along_latent: %s has a %d-D latent; a 1-D latent is needed"
                                 % (bundle_path, z.size(1) if z.dim() == 2 else -1))
            latent[start:stop] = z[:, 0].double().numpy()
    histogram, _ = np.histogram(latent, bins=edges, weights=weights)
    with np.errstate(divide="ignore"):
        free_energy = -np.log(histogram)
    return free_energy - free_energy[np.isfinite(free_energy)].min()


def _model_dtype(model):
    for parameter in model.parameters():
        return parameter.dtype
    return __import__("torch").float64
