"""Alanine dipeptide (Ace-Ala-Nme, 22 atoms) built from standard internal coordinates.

No structure file is read: the backbone and hydrogens are placed with the natural extension
reference frame (NeRF) from bond lengths, angles and torsions, giving L-alanine at the requested
(phi, psi). `create_system` gives the paper's model: AMBER99SB, vacuum, no cutoff, bonds to
hydrogen constrained.
"""
import math

import numpy as np

# (name, element, residue index, bonded-to, bond [A], angle [deg], torsion [deg] with the two
# atoms before the bonded one). Torsion references: names of (angle atom, torsion atom).
# phi and psi are filled in by build_positions.
_ATOMS = [
    # name,  elem, res, bond-to, length, angle-atom, angle, torsion-atom, torsion
    ("CH3",  "C", 0, None,  None, None, None, None, None),
    ("C",    "C", 0, "CH3", 1.522, None, None, None, None),
    ("N",    "N", 1, "C",   1.335, "CH3", 116.6, None, None),
    ("O",    "O", 0, "C",   1.229, "CH3", 120.5, "N", 180.0),
    ("CA",   "C", 1, "N",   1.449, "C", 121.9, "CH3", 180.0),          # omega
    ("C2",   "C", 1, "CA",  1.522, "N", 111.1, "C", "phi"),
    ("N2",   "N", 2, "C2",  1.335, "CA", 116.6, "N", "psi"),
    ("O2",   "O", 1, "C2",  1.229, "CA", 120.5, "N2", 180.0),
    ("CH32", "C", 2, "N2",  1.449, "C2", 121.9, "CA", 180.0),          # omega
    ("CB",   "C", 1, "CA",  1.525, "N", 110.1, "C2", -122.6),           # L chirality
    ("HA",   "H", 1, "CA",  1.090, "N", 109.5, "C2", 117.9),
    ("H",    "H", 1, "N",   1.010, "CA", 118.0, "C2", "phi+180"),
    ("H2",   "H", 2, "N2",  1.010, "CH32", 118.0, "C2", 180.0),
    ("HH31", "H", 0, "CH3", 1.090, "C", 109.5, "O", 0.0),
    ("HH32", "H", 0, "CH3", 1.090, "C", 109.5, "O", 120.0),
    ("HH33", "H", 0, "CH3", 1.090, "C", 109.5, "O", -120.0),
    ("HB1",  "H", 1, "CB",  1.090, "CA", 109.5, "N", 60.0),
    ("HB2",  "H", 1, "CB",  1.090, "CA", 109.5, "N", 180.0),
    ("HB3",  "H", 1, "CB",  1.090, "CA", 109.5, "N", -60.0),
    ("HH34", "H", 2, "CH32", 1.090, "N2", 109.5, "C2", 0.0),
    ("HH35", "H", 2, "CH32", 1.090, "N2", 109.5, "C2", 120.0),
    ("HH36", "H", 2, "CH32", 1.090, "N2", 109.5, "C2", -120.0),
]
# Output order and PDB names, residue by residue (ACE, ALA, NME) as AMBER names them.
_ORDER = [
    ("HH31", "HH31"), ("CH3", "CH3"), ("HH32", "HH32"), ("HH33", "HH33"), ("C", "C"), ("O", "O"),
    ("N", "N"), ("H", "H"), ("CA", "CA"), ("HA", "HA"), ("CB", "CB"), ("HB1", "HB1"), ("HB2", "HB2"),
    ("HB3", "HB3"), ("C2", "C"), ("O2", "O"), ("N2", "N"), ("H2", "H"), ("CH32", "CH3"),
    ("HH34", "HH31"), ("HH35", "HH32"), ("HH36", "HH33"),
]
_RESIDUES = ["ACE", "ALA", "NME"]


def _place(a, b, c, length, angle, torsion):
    """Position d with |cd| = length, angle(b, c, d) = angle, torsion(a, b, c, d) = torsion (radians)."""
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = np.array([-length * math.cos(angle), length * math.sin(angle) * math.cos(torsion),
                   length * math.sin(angle) * math.sin(torsion)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def build_positions(phi=-80.0, psi=70.0):
    """Positions in nm (numpy [22, 3], in the order of `topology()`) at backbone torsions phi, psi (deg)."""
    pos = {}
    values = {"phi": phi, "psi": psi, "phi+180": phi + 180.0}
    for name, _, _, bonded, length, angle_atom, angle, torsion_atom, torsion in _ATOMS:
        if bonded is None:
            pos[name] = np.zeros(3)
        elif angle_atom is None:
            pos[name] = pos[bonded] + np.array([length, 0.0, 0.0])
        elif torsion_atom is None:
            theta = math.radians(180.0 - angle)
            pos[name] = pos[bonded] + length * np.array([math.cos(theta), math.sin(theta), 0.0])
        else:
            t = values[torsion] if isinstance(torsion, str) else torsion
            pos[name] = _place(pos[torsion_atom], pos[angle_atom], pos[bonded], length,
                               math.radians(angle), math.radians(t))
    return np.array([pos[key] for key, _ in _ORDER]) * 0.1


def topology():
    """An openmm.app.Topology of Ace-Ala-Nme with bonds, matching the AMBER templates."""
    from openmm import app
    top = app.Topology()
    chain = top.addChain()
    residues = [top.addResidue(r, chain) for r in _RESIDUES]
    element = {name: e for name, e, _, _, _, _, _, _, _ in _ATOMS}
    residue_of = {name: r for name, _, r, _, _, _, _, _, _ in _ATOMS}
    atoms = {}
    for key, pdb_name in _ORDER:
        atoms[key] = top.addAtom(pdb_name, app.Element.getBySymbol(element[key]), residues[residue_of[key]])
    for name, _, _, bonded, *_ in _ATOMS:
        if bonded is not None:
            top.addBond(atoms[name], atoms[bonded])
    return top


SOLVENTS = ("vacuum", "obc2")


def forcefield_files(solvent="vacuum"):
    """The force-field files of a solvent model: AMBER99SB, with `amber99_obc.xml` for "obc2" (OpenMM's
    GBSAOBCForce, the OBC II parameters, surface term included: the Boltzmann-generator benchmark
    system; `implicit/obc2.xml`, a CustomGBForce with other radii, is ~40x slower on Reference)."""
    if solvent not in SOLVENTS:
        raise ValueError("alanine dipeptide: solvent must be one of %s, got %r" % (", ".join(SOLVENTS), solvent))
    return ["amber99sb.xml"] + (["amber99_obc.xml"] if solvent == "obc2" else [])


def create_system(constraints="hbonds", solvent="vacuum", molecule=None):
    """The paper's system: AMBER99SB, no cutoff, bonds to hydrogen constrained by default; in vacuum or in
    OBC2 implicit solvent (`solvent="obc2"`). `molecule`: the Topology of another AMBER molecule."""
    from openmm import app
    if constraints not in ("hbonds", "none"):
        raise ValueError("alanine dipeptide: constraints must be 'hbonds' or 'none', got %r" % (constraints,))
    ff = app.ForceField(*forcefield_files(solvent))
    return ff.createSystem(molecule if molecule is not None else topology(), nonbondedMethod=app.NoCutoff,
                           constraints=app.HBonds if constraints == "hbonds" else None)


TEMPERATURE = 300.0  # K, the paper's


def create_simulation(system, platform="Reference", seed=1, temperature=TEMPERATURE):
    """An openmm.app.Simulation of `system` (a System of this molecule, possibly biased) with the paper's
    Langevin middle dynamics (1/ps, 2 fs) at `temperature` (K), started from build_positions() with the
    constraints applied and velocities drawn; on the CPU platform one thread (tiny system: more threads
    cost more than they give)."""
    import openmm
    from openmm import app, unit
    integrator = openmm.LangevinMiddleIntegrator(temperature * unit.kelvin, 1.0 / unit.picosecond, 0.002 * unit.picoseconds)
    integrator.setRandomNumberSeed(seed)
    properties = {"Threads": "1"} if platform == "CPU" else {}
    simulation = app.Simulation(topology(), system, integrator, openmm.Platform.getPlatformByName(platform), properties)
    simulation.context.setPositions(build_positions())
    simulation.context.applyConstraints(1e-8)
    simulation.context.setVelocitiesToTemperature(temperature * unit.kelvin, seed)
    return simulation


def dihedral(p0, p1, p2, p3):
    """Torsion angle in degrees of four points (numpy arrays)."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1)
    v = b0 - np.dot(b0, b1) * b1
    w = b2 - np.dot(b2, b1) * b1
    return math.degrees(math.atan2(np.dot(np.cross(b1, v), w), np.dot(v, w)))


# Indices (in topology order) of the atoms defining phi (C-N-CA-C) and psi (N-CA-C-N).
PHI_ATOMS = (4, 6, 8, 14)
PSI_ATOMS = (6, 8, 14, 16)


def phi_psi(positions):
    """(phi, psi) in degrees of positions [22, 3] (any length unit)."""
    p = np.asarray(positions)
    return dihedral(*p[list(PHI_ATOMS)]), dihedral(*p[list(PSI_ATOMS)])
