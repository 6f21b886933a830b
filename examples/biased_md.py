#!/usr/bin/python3
"""Biased MD with a VAECVForce: steer a small molecule along a collective variable.

Self-contained: until a trained bundle (`openmm-vae train`) is at hand, this script writes its own
small TorchScript CV with torch: z = [end-to-end distance, radius of gyration] (nm) of a 5-atom
chain, saved as a bundle with metadata (atoms, latent size). It then adds a VAECVForce harmonic
restraint on z0 to the chain's System and runs Langevin MD through a series of umbrella windows,
moving the restraint center with Context.setParameter("vae_center0", ...), and prints the CV
trajectory. A trained bundle is used the same way: openmmvae.VAECVForce("bundle.pt").

    /usr/bin/python3 examples/biased_md.py [--steps 400] [--platform Reference] [--model cv.pt]
"""

import argparse
import json
import os
import tempfile

import torch

import openmm
import openmmvae
from openmm import unit


class ChainCV(torch.nn.Module):
    """A hand-made CV (stands in for a trained encoder): forward(positions[n, 3] nm) -> z[2]."""

    def forward(self, positions):
        end_to_end = torch.sqrt(((positions[-1] - positions[0]) ** 2).sum())
        centered = positions - positions.mean(dim=0)
        radius_of_gyration = torch.sqrt((centered ** 2).sum(dim=1).mean())
        return torch.stack([end_to_end, radius_of_gyration])


def write_model(path, atoms):
    """Save the CV as a TorchScript bundle with the metadata openmmvae reads."""
    metadata = {"format_version": 1, "atoms": atoms, "latent": 2, "features": "positions"}
    torch.jit.save(torch.jit.script(ChainCV()), path, _extra_files={"metadata.json": json.dumps(metadata)})


def make_chain(num_atoms=5):
    """A united-atom alkane-like chain: bonds, angles and a soft repulsion between the ends."""
    system = openmm.System()
    for _ in range(num_atoms):
        system.addParticle(14.0)
    bonds = openmm.HarmonicBondForce()
    angles = openmm.HarmonicAngleForce()
    for i in range(num_atoms - 1):
        bonds.addBond(i, i + 1, 0.153, 2.0e5)
    for i in range(num_atoms - 2):
        angles.addAngle(i, i + 1, i + 2, 1.911, 400.0)
    system.addForce(bonds)
    system.addForce(angles)
    positions = [openmm.Vec3(0.125 * i, 0.088 * (i % 2), 0.0) for i in range(num_atoms)]  # zig-zag
    return system, positions


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="MD steps per umbrella window")
    parser.add_argument("--platform", default="Reference", help="OpenMM platform (Reference or CPU)")
    parser.add_argument("--model", help="where to write the CV bundle (default: a temporary file)")
    args = parser.parse_args()

    system, positions = make_chain()
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model or os.path.join(tmp, "chain_cv.pt")
        write_model(model_path, atoms=list(range(system.getNumParticles())))

        cv = openmmvae.VAECVForce(model_path)  # the bytes are copied in: the file may go away now
    # Restrain z0 (end-to-end distance); kappa = 0 leaves z1 (radius of gyration) free.
    cv.useHarmonicRestraint([0.45, 0.0], [2000.0 * unit.kilojoule_per_mole, 0.0])
    system.addForce(cv)
    print(cv)

    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 5 / unit.picosecond, 0.002 * unit.picoseconds)
    integrator.setRandomNumberSeed(2024)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(args.platform))
    context.setPositions(positions)
    context.setVelocitiesToTemperature(300 * unit.kelvin, 2024)

    print("%8s %8s %10s %10s" % ("step", "center", "z0 (e2e)", "z1 (Rg)"))
    step = 0
    for center in (0.45, 0.40, 0.35, 0.30):  # umbrella windows: move the center through the Context
        context.setParameter(cv.getCenterParameterName(0), center)
        for _ in range(4):
            integrator.step(args.steps // 4)
            step += args.steps // 4
            z = cv.getCollectiveVariableValues(context)
            print("%8d %8.3f %10.4f %10.4f" % (step, center, z[0], z[1]))


if __name__ == "__main__":
    main()
