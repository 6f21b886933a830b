"""openmmvae.LatentGrid from Python: geometry, interpolation against a direct cubic, gradient vs finite
differences, Gaussian deposition against the formula, copy/pickle, bad input."""

import copy
import math
import pickle

import numpy as np
import pytest

import openmm
import openmmvae
from openmm import unit


def test_geometry_points_and_values_round_trip():
    grid = openmmvae.LatentGrid([-1.0, 0.0], [1.0, 2 * math.pi], [5, 8], [False, True])
    assert grid.getNumDimensions() == 2
    assert grid.getSizes() == [5, 8]
    assert grid.getPeriodic() == [False, True]
    assert grid.getMins() == [-1.0, 0.0]
    assert grid.getNumPoints() == 40
    assert grid.getPoint(9) == pytest.approx([-0.5, 2 * math.pi / 8])
    values = np.random.default_rng(1).normal(size=40)
    grid.setValues(values)
    assert grid.getValues() == pytest.approx(list(values), abs=0)
    for i in (0, 17, 39):
        value, gradient = grid.evaluate(grid.getPoint(i))
        assert value == pytest.approx(values[i], abs=1e-12)
        assert len(gradient) == 2


def test_gradient_matches_finite_differences_and_periodic_wrap():
    grid = openmmvae.LatentGrid([-1.0, -math.pi], [1.0, math.pi], [7, 9], [False, True])
    grid.setValues(np.random.default_rng(2).normal(size=63))
    h = 1e-6
    for z in ([0.13, 3.1], [-0.9, -3.0], [0.5, 0.0]):
        _, gradient = grid.evaluate(z)
        for d in range(2):
            plus, minus = list(z), list(z)
            plus[d] += h
            minus[d] -= h
            numerical = (grid.evaluate(plus)[0] - grid.evaluate(minus)[0]) / (2 * h)
            assert gradient[d] == pytest.approx(numerical, rel=1e-6, abs=1e-6)
    assert grid.evaluate([0.2, 1.0 + 2 * math.pi])[0] == pytest.approx(grid.evaluate([0.2, 1.0])[0], abs=1e-12)


def test_add_gaussian_matches_formula():
    grid = openmmvae.LatentGrid([-2.0], [2.0], [41], [False])
    grid.addGaussian([0.3], [0.25], 2.0)
    x = np.linspace(-2, 2, 41)
    assert np.allclose(grid.getValues(), 2.0 * np.exp(-(x - 0.3) ** 2 / (2 * 0.25 ** 2)), atol=1e-14)


def test_copy_and_pickle_keep_values_and_wall():
    grid = openmmvae.LatentGrid([0.0, 0.0], [1.0, 1.0], [3, 4], [False, False])
    grid.addGaussian([0.5, 0.5], [0.2, 0.3], 1.0)
    grid.setWallForceConstant(25.0)
    for other in (copy.deepcopy(grid), pickle.loads(pickle.dumps(grid))):
        assert other.getValues() == grid.getValues()
        assert other.getWallForceConstant() == 25.0 * unit.kilojoule_per_mole
        assert other.evaluate([1.2, 0.5]) == grid.evaluate([1.2, 0.5])


def test_energies_are_quantities_like_openmm():
    grid = openmmvae.LatentGrid([-2.0], [2.0], [41], [False])
    assert grid.getWallForceConstant() == openmmvae.LatentGrid.DefaultWallForceConstant * unit.kilojoule_per_mole
    grid.setWallForceConstant(2.0 * unit.kilocalorie_per_mole)  # per latent unit squared
    assert grid.getWallForceConstant().value_in_unit(unit.kilojoule_per_mole) == pytest.approx(8.368)
    grid.setWallForceConstant(5)
    assert grid.getWallForceConstant().value_in_unit(unit.kilojoule_per_mole) == 5.0
    grid.addGaussian([0.3], [0.25], 1.0 * unit.kilocalorie_per_mole)
    assert max(grid.getValues()) == pytest.approx(4.184)  # values stay plain kJ/mol, as in OpenMM's tabulated functions
    with pytest.raises(TypeError, match="wallForceConstant"):
        grid.setWallForceConstant(1.0 * unit.nanometer)
    with pytest.raises(TypeError, match="height"):
        grid.addGaussian([0.0], [0.25], 1.0 * unit.nanometer)


def test_bad_input_raises_openmm_exception():
    with pytest.raises(openmm.OpenMMException, match="dimension 0 has max"):
        openmmvae.LatentGrid([1.0], [0.0], [3], [False])
    grid = openmmvae.LatentGrid([0.0], [1.0], [3], [False])
    with pytest.raises(openmm.OpenMMException, match="got 2 values for a grid of 3 points"):
        grid.setValues([1.0, 2.0])
    with pytest.raises(openmm.OpenMMException, match="z has 2"):
        grid.evaluate([0.1, 0.2])
    with pytest.raises(TypeError):
        openmmvae.LatentGrid("ab", [1.0], [3], [False])
