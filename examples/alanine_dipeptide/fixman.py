#!/usr/bin/python3
"""Size of the Fixman factor for alanine dipeptide with bonds to hydrogen constrained.

MD with holonomic constraints samples exp(-B U) J sqrt(det Z) on the constraint surface, where
Z_ab = sum_k (1 / m_k) grad_k sigma_a . grad_k sigma_b is the mass-metric matrix of the
constraints sigma_a (bond lengths); the VAE-MC move targets exp(-B U) J (science.md sections 5 and 7).
The two agree when ln sqrt(det Z) is constant. For X-H bonds it varies only where two constraints
share an atom (the methyl carbons: Z_ab = cos(H-C-H) / m_C), i.e. with the H-C-H angles.

This script evaluates ln sqrt(det Z) on every frame of a trajectory (e.g. the 20 ns data set) and
reports its spread and its mean per Ramachandran basin: the bias that ignoring it would put on a
basin's free energy is the difference of those means (in kT).

    /usr/bin/python3 -m openmmvae.apps.simulate --out ala-data --frames 100000 --interval 100 --seed 11
    /usr/bin/python3 examples/alanine_dipeptide/fixman.py --data ala-data
"""
import argparse
import json
import os
import sys

import numpy as np

from openmm import unit
from openmmvae.apps import alanine_dipeptide, ramachandran

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acceptance import read_dcd  # noqa: E402  (one DCD reader for the alanine examples)


def log_sqrt_det_z(frames, constraints, masses):
    """ln sqrt(det Z) per frame [n]; frames [n, atoms, 3] nm, constraints [(i, j)], masses [atoms] amu."""
    n, c = len(frames), len(constraints)
    unit_vectors = np.empty((n, c, 3))
    for a, (i, j) in enumerate(constraints):
        d = frames[:, i] - frames[:, j]
        unit_vectors[:, a] = d / np.linalg.norm(d, axis=1, keepdims=True)
    z = np.zeros((n, c, c))
    for a, (i, j) in enumerate(constraints):
        for b, (k, l) in enumerate(constraints):
            # grad_i sigma_a = e_a, grad_j sigma_a = -e_a
            w = (i == k) / masses[i] - (i == l) / masses[i] - (j == k) / masses[j] + (j == l) / masses[j]
            if w != 0.0:
                z[:, a, b] = w * np.einsum("nd,nd->n", unit_vectors[:, a], unit_vectors[:, b])
    sign, logdet = np.linalg.slogdet(z)
    if np.any(sign <= 0):
        raise ValueError("the constraint metric is not positive definite on some frame")
    return 0.5 * logdet


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="openmmvae.apps.simulate output folder (trajectory.dcd)")
    p.add_argument("--out", default="fixman.json")
    a = p.parse_args(argv)
    frames = read_dcd(os.path.join(a.data, "trajectory.dcd"))
    system = alanine_dipeptide.create_system("hbonds")
    masses = np.array([system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(system.getNumParticles())])
    constraints = [tuple(system.getConstraintParameters(k)[:2]) for k in range(system.getNumConstraints())]
    values = log_sqrt_det_z(frames, constraints, masses)
    phi, psi = np.array([alanine_dipeptide.phi_psi(x) for x in frames]).T
    regions = ramachandran.regions(phi, psi)
    per_basin = {}
    for k, name in enumerate(ramachandran.REGIONS):
        v = values[regions == k]
        if len(v):
            per_basin[name] = {"frames": int(len(v)), "mean": float(v.mean())}
    result = {"frames": len(frames), "constraints": len(constraints), "mean": float(values.mean()),
              "std": float(values.std()), "min": float(values.min()), "max": float(values.max()),
              "basins": per_basin}
    ref = per_basin.get("C7eq", {"mean": result["mean"]})["mean"]
    print("ln sqrt(det Z) over %d frames (%d constraints): mean %.6f, sd %.2e, range [%.6f, %.6f]" % (
        len(frames), len(constraints), result["mean"], result["std"], result["min"], result["max"]))
    for name, b in per_basin.items():
        print("  %-8s %6d frames  mean - mean(C7eq) = %+.2e kT" % (name, b["frames"], b["mean"] - ref))
    json.dump(result, open(a.out, "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
