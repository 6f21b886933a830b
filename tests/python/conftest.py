"""Shared helpers of the openmmvae Python tests: TorchScript CV models written here with Debian's
torch (no trainer needed), small Systems, finite differences."""

import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import openmm
import openmmvae
from openmm import unit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLATFORMS = ["Reference", "CPU"]


class AnalyticCV(torch.nn.Module):
    """L = 2: z0 = scale * |r1 - r0|, z1 = sum_i sin(x_i) y_i + |r2 - r0|^2 (float32 parameter)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([1.5]))

    def forward(self, positions):
        d01 = torch.sqrt(((positions[1] - positions[0]) ** 2).sum())
        d02sq = ((positions[2] - positions[0]) ** 2).sum()
        z1 = (torch.sin(positions[:, 0]) * positions[:, 1]).sum() + d02sq
        return torch.stack([self.scale[0] * d01, z1])


class RandomMLP(torch.nn.Module):
    """3n -> 16 (tanh) -> 8 (softplus) -> L with seeded random float32 weights."""

    def __init__(self, num_atoms, latent, seed=1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.l1 = torch.nn.Linear(3 * num_atoms, 16)
        self.l2 = torch.nn.Linear(16, 8)
        self.l3 = torch.nn.Linear(8, latent)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.7)

    def forward(self, positions):
        h = torch.tanh(self.l1(positions.reshape(-1)))
        h = torch.nn.functional.softplus(self.l2(h))
        return self.l3(h)


class DistanceCV(torch.nn.Module):
    """L = 1: the distance between the first and the last selected atom (nm)."""

    def forward(self, positions):
        return torch.sqrt(((positions[-1] - positions[0]) ** 2).sum()).reshape(1)


def metadata(atoms, latent):
    return json.dumps({"format_version": 1, "atoms": list(atoms), "latent": latent})


def archive(module, meta=None):
    """The bytes of a TorchScript archive of module (scripted here), with metadata.json if given."""
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files={"metadata.json": meta} if meta else {})
    return buffer.getvalue()


def analytic_bytes(meta=None):
    return archive(AnalyticCV(), meta)


def mlp_bytes(num_atoms=4, latent=2, meta=None, seed=1):
    return archive(RandomMLP(num_atoms, latent, seed), meta)


class BadIndexCV(torch.nn.Module):
    """forward fails for fewer than 8 atoms."""

    def forward(self, positions):
        return positions[7] * 2.0


class MatrixCV(torch.nn.Module):
    """Wrong output shape [n, 3]."""

    def forward(self, positions):
        return positions * 2.0


class ScalarCV(torch.nn.Module):
    """Wrong output shape [] (a scalar)."""

    def forward(self, positions):
        return positions.sum()


POSITIONS = [openmm.Vec3(0.0, 0.0, 0.0), openmm.Vec3(0.14, 0.02, -0.01), openmm.Vec3(0.21, 0.13, 0.03),
             openmm.Vec3(0.33, 0.11, 0.12), openmm.Vec3(0.41, 0.24, 0.10)]


def make_system(num_particles=4, bonds=True):
    system = openmm.System()
    for _ in range(num_particles):
        system.addParticle(12.0)
    if bonds:
        bond = openmm.HarmonicBondForce()
        for i in range(num_particles - 1):
            bond.addBond(i, i + 1, 0.15, 2.0e4)
        system.addForce(bond)
    return system


def make_context(system, platform="Reference", positions=None):
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform))
    context.setPositions(positions if positions is not None else POSITIONS[:system.getNumParticles()])
    return context


def energy(context, groups=-1):
    return context.getState(getEnergy=True, groups=groups).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)


def forces(context, groups=-1):
    f = context.getState(getForces=True, groups=groups).getForces(asNumpy=True)
    return np.array(f.value_in_unit(unit.kilojoule_per_mole / unit.nanometer))


def positions_array(context):
    return np.array(context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))


def finite_difference_forces(context, step=1e-5, groups=-1):
    """Minus the central finite-difference gradient of the energy."""
    x0 = positions_array(context)
    result = np.zeros_like(x0)
    for i in range(x0.shape[0]):
        for d in range(3):
            energies = []
            for sign in (1, -1):
                x = x0.copy()
                x[i, d] += sign * step
                context.setPositions(x)
                energies.append(energy(context, groups))
            result[i, d] = -(energies[0] - energies[1]) / (2 * step)
    context.setPositions(x0)
    return result


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def run_python(code, cwd=None, timeout=120):
    """Run code in a fresh /usr/bin/python3 (the import order is then under the test's control)."""
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def group_mask(*groups):
    return sum(1 << g for g in groups)


def trainer_command():
    """The build tree's openmm-vae; the test is skipped without it (it runs through ctest)."""
    build = os.environ.get("OPENMMVAE_BUILD_DIR")
    command = os.path.join(build or "", "bin", "openmm-vae")
    if not build or not os.path.exists(command):
        pytest.skip("the openmm-vae trainer of the build tree is needed (run through ctest)")
    return command


# A Mueller bundle (xy features of atom 0, condind decoder, L = 1) trained for 3 epochs: train_bundle(dir, MUELLER_TEST_BUNDLE)
MUELLER_TEST_BUNDLE = ["--system", "mueller", "--samples", "4000", "--decoder", "condind", "--latent", "1", "--hidden", "20",
                       "--betas", "1", "--epochs", "3", "--anneal", "1", "--seed", "1", "--threads", "1", "--quiet"]


def train_bundle(workdir, arguments, timeout=300):
    """`openmm-vae train ARGUMENTS --out WORKDIR/run`, which must succeed; returns its beta-1 bundle's path."""
    result = subprocess.run([trainer_command(), "train"] + list(arguments) + ["--out", str(workdir / "run")],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return str(workdir / "run" / "beta-1" / "model.pt")
