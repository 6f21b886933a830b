"""Bad input raises Python exceptions (openmm.OpenMMException, TypeError) naming the problem, and
never crashes the process or corrupts the Context."""

import math

import pytest
import torch

import openmm
import openmmvae
from openmm import unit
from conftest import (BadIndexCV, MatrixCV, ScalarCV, archive, analytic_bytes, energy, make_context, make_system, metadata, mlp_bytes,
                      POSITIONS)

OpenMMException = openmm.OpenMMException


def context_for(force, num_particles=3):
    system = make_system(num_particles, bonds=False)
    system.addForce(force)
    return make_context(system)


def test_missing_file(tmp_path):
    missing = tmp_path / "no-such-model.pt"
    with pytest.raises(OpenMMException, match="no-such-model.pt.*cannot be opened"):
        openmmvae.VAECVForce(str(missing))
    with pytest.raises(OpenMMException, match="cannot be opened"):
        openmmvae.VAECVForce(missing)


def test_file_that_is_not_an_archive(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(OpenMMException, match="notes.txt.*not a TorchScript archive"):
        openmmvae.VAECVForce(path)


def test_bytes_that_are_not_an_archive():
    with pytest.raises(OpenMMException, match="not a TorchScript archive"):
        openmmvae.VAECVForce(b"\x00\x01 definitely not a model")
    with pytest.raises(OpenMMException, match="not a TorchScript archive"):
        openmmvae.VAECVForce(bytearray(b"model"))
    with pytest.raises(OpenMMException, match="not a valid TorchScript archive"):
        openmmvae.VAECVForce(b"PK\x03\x04 but a broken zip")


def test_wrong_model_types():
    with pytest.raises(TypeError, match="path.*bytes.*ScriptModule"):
        openmmvae.VAECVForce(42)
    with pytest.raises(TypeError, match="torch.jit.script"):
        openmmvae.VAECVForce(torch.nn.Linear(3, 1))
    with pytest.raises(TypeError, match="extra_files"):
        openmmvae.VAECVForce(analytic_bytes(), extra_files={"metadata.json": "{}"})


def test_forward_fails():
    force = openmmvae.VAECVForce(archive(BadIndexCV()))
    with pytest.raises(OpenMMException, match=r"forward\(positions\[3, 3\]\) failed"):
        context_for(force)


def test_wrong_output_shape():
    force = openmmvae.VAECVForce(archive(MatrixCV()))
    with pytest.raises(OpenMMException, match=r"shape \[L\]"):
        context_for(force)
    force = openmmvae.VAECVForce(archive(ScalarCV()))
    with pytest.raises(OpenMMException, match=r"shape \[L\]"):
        context_for(force)


def test_atom_out_of_range_or_repeated():
    force = openmmvae.VAECVForce(analytic_bytes())
    force.setAtoms([0, 1, 7])
    with pytest.raises(OpenMMException, match="atom index 7 is out of range"):
        context_for(force)
    with pytest.raises(OpenMMException, match="atom index 1 is repeated"):
        force.setAtoms([0, 1, 1])
    with pytest.raises(OpenMMException, match="-2 .*negative"):
        force.setAtoms([0, -2, 1])


def test_metadata_atom_count_mismatch():
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    with pytest.raises(OpenMMException, match="expects 3 atoms, got 4"):
        force.setAtoms([0, 1, 2, 3])
    mlp = openmmvae.VAECVForce(mlp_bytes(4, 2))  # the MLP takes exactly 4 atoms
    with pytest.raises(OpenMMException, match="forward"):
        context_for(mlp, num_particles=3)


def test_component_out_of_range():
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    with pytest.raises(OpenMMException, match="component index 2 is out of range.*2 dimension"):
        force.useComponent(2)
    with pytest.raises(OpenMMException, match="negative"):
        force.useComponent(-1)
    # Without metadata and atoms, L is only known in a Context.
    force = openmmvae.VAECVForce(analytic_bytes())
    force.useComponent(5)
    with pytest.raises(OpenMMException, match="component index 5 is out of range"):
        context_for(force)


def test_wrong_restraint_lengths():
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    with pytest.raises(OpenMMException, match="2 centers but 3 force constants"):
        force.useHarmonicRestraint([0.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(OpenMMException, match="3 centers given but the latent space has 2"):
        force.useHarmonicRestraint([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(OpenMMException, match="not finite"):
        force.useHarmonicRestraint([0.0, math.nan], [1.0, 2.0])
    with pytest.raises(TypeError, match="centers"):
        force.useHarmonicRestraint(0.5, [1.0])
    force = openmmvae.VAECVForce(analytic_bytes())
    force.useHarmonicRestraint([0.0], [1.0])  # L unknown until a Context exists
    with pytest.raises(OpenMMException, match="1 centers but the latent space has 2"):
        context_for(force)


def test_nan_positions_raise_and_context_survives():
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    force.useHarmonicRestraint([0.0, 0.0], [10.0, 10.0])
    context = context_for(force)
    good = energy(context)
    bad = list(POSITIONS[:3])
    bad[1] = openmm.Vec3(math.nan, 0.0, 0.0)
    context.setPositions(bad)
    with pytest.raises(OpenMMException, match="atom 1 is not finite"):
        energy(context)
    with pytest.raises(OpenMMException, match="not finite"):
        force.getCollectiveVariableValues(context)
    bad[1] = openmm.Vec3(0.1, math.inf, 0.0)
    context.setPositions(bad)
    with pytest.raises(OpenMMException, match="not finite"):
        context.getState(getForces=True)
    context.setPositions(POSITIONS[:3])
    assert energy(context) == good


def test_force_not_in_context():
    force = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    other = openmmvae.VAECVForce(analytic_bytes(metadata([0, 1, 2], 2)))
    context = context_for(force)
    with pytest.raises(OpenMMException):
        other.getCollectiveVariableValues(context)
