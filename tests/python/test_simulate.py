"""openmmvae.apps.simulate: alanine dipeptide training data (DCD + PDB + energies) from plain Langevin MD."""
import csv
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from openmmvae.apps import alanine_dipeptide, simulate


def _dcd_frames(path, n_atoms):
    """Frame count of a DCD written by openmm.app.DCDFile, from its header and its size."""
    with open(path, "rb") as f:
        data = f.read()
    (first,) = struct.unpack("<i", data[:4])
    assert first == 84 and data[4:8] == b"CORD"
    frames_in_header = struct.unpack("<i", data[8:12])[0]
    # Header: 84-byte record, title record, atom-count record; each record has two 4-byte markers.
    title_len = struct.unpack("<i", data[92:96])[0]
    header = 92 + title_len + 8 + 12
    assert struct.unpack("<i", data[header - 8:header - 4])[0] == n_atoms
    has_cell = struct.unpack("<i", data[48:52])[0] == 1
    frame_bytes = (56 if has_cell else 0) + 3 * (4 * n_atoms + 8)
    assert (len(data) - header) % frame_bytes == 0
    return frames_in_header, (len(data) - header) // frame_bytes


def test_writes_trajectory_topology_and_energies(tmp_path):
    out = tmp_path / "data"
    assert simulate.simulate(str(out), frames=150, interval=50, equilibrate=500, seed=3, progress=False) == 150
    for name in ("trajectory.dcd", "topology.pdb", "energies.csv", "simulation.json"):
        assert (out / name).exists(), name
    header_frames, frames = _dcd_frames(str(out / "trajectory.dcd"), 22)
    assert frames == 150 and header_frames == 150
    pdb_atoms = [line for line in open(out / "topology.pdb") if line.startswith(("ATOM", "HETATM"))]
    assert len(pdb_atoms) == 22
    assert sum(line.startswith("CONECT") for line in open(out / "topology.pdb")) > 0
    rows = list(csv.DictReader(open(out / "energies.csv")))
    assert len(rows) == 150
    assert [int(r["step"]) for r in rows[:2]] == [550, 600]
    temperature = np.mean([float(r["temperature_k"]) for r in rows])
    assert 240 < temperature < 360, temperature  # 150 frames, 41 degrees of freedom: +-10 % noise
    potential = np.array([float(r["potential_kj_mol"]) for r in rows])
    assert np.all(np.isfinite(potential)) and potential.std() > 0
    phi = np.array([float(r["phi_deg"]) for r in rows])
    assert not np.any((phi > 0) & (phi < 120))  # started in C7eq; 15 ps at 300 K does not reach alpha_L
    info = json.load(open(out / "simulation.json"))
    assert info["constraints"] == "hbonds" and info["timestep_fs"] == 2.0 and info["platform"] == "Reference"


def test_create_simulation_runs_the_papers_dynamics():
    from openmm import unit
    system = alanine_dipeptide.create_system()
    simulation = alanine_dipeptide.create_simulation(system, seed=2)
    integrator = simulation.integrator
    assert integrator.getTemperature() == alanine_dipeptide.TEMPERATURE * unit.kelvin
    assert integrator.getStepSize() == 0.002 * unit.picoseconds
    assert integrator.getFriction() == 1.0 / unit.picosecond
    simulation.step(20)
    positions = simulation.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    for k in range(system.getNumConstraints()):
        i, j, d = system.getConstraintParameters(k)
        assert np.linalg.norm(positions[i] - positions[j]) == pytest.approx(d.value_in_unit(unit.nanometer), abs=1e-5)


def test_hbonds_are_constrained_in_the_frames(tmp_path):
    """Bonds to hydrogen keep the AMBER99SB constraint lengths in every saved frame (read back from the PDB)."""
    import openmm
    from openmm import app, unit
    out = tmp_path / "c"
    simulate.simulate(str(out), frames=5, interval=20, equilibrate=0, progress=False, plot=False)
    pdb = app.PDBFile(str(out / "topology.pdb"))
    system = alanine_dipeptide.create_system()
    pos = pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    assert system.getNumConstraints() == 12
    for k in range(system.getNumConstraints()):
        i, j, length = system.getConstraintParameters(k)
        # The PDB holds 3 decimals in Angstrom.
        assert abs(np.linalg.norm(pos[i] - pos[j]) - length.value_in_unit(unit.nanometer)) < 2e-4


def test_same_seed_same_data(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        simulate.simulate(str(out), frames=10, interval=20, equilibrate=20, seed=7, progress=False, plot=False)
    assert open(a / "energies.csv").read() == open(b / "energies.csv").read()
    # The DCD title carries the creation time: compare the coordinates (the last 10 frames of 22 atoms).
    frame_bytes = 3 * (4 * 22 + 8)
    assert open(a / "trajectory.dcd", "rb").read()[-10 * frame_bytes:] == \
        open(b / "trajectory.dcd", "rb").read()[-10 * frame_bytes:]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        simulate.simulate(str(tmp_path), frames=0)
    with pytest.raises(ValueError, match="constraints"):
        simulate.simulate(str(tmp_path), frames=1, constraints="allbonds")


@pytest.mark.processes
def test_command_line(tmp_path):
    out = tmp_path / "cli"
    ok = subprocess.run([sys.executable, "-m", "openmmvae.apps.simulate", "--out", str(out), "--frames", "4",
                         "--interval", "10", "--equilibrate", "0"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "frame 4/4" in ok.stderr and (out / "trajectory.dcd").exists()
    bad = subprocess.run([sys.executable, "-m", "openmmvae.apps.simulate", "--out", str(out), "--interval", "0"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "interval" in bad.stderr
