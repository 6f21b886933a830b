"""XmlSerializer round trip, copy/deepcopy/pickle, cast, construction from path/bytes/ScriptModule."""

import copy
import gc
import pathlib
import pickle

import numpy as np
import pytest
import torch

import openmm
import openmmvae
from conftest import (AnalyticCV, analytic_bytes, energy, forces, make_context, make_system, metadata, run_python)


def configured_force(data=None):
    force = openmmvae.VAECVForce(data if data is not None else analytic_bytes(metadata([0, 1, 3], 2)))
    force.setGlobalParameterPrefix("u3_")
    force.useHarmonicRestraint([0.25, -0.5], [123.0, 45.0])
    force.setForceGroup(5)
    return force


def same_settings(a, b):
    assert a.getAtoms() == b.getAtoms()
    assert a.getEnergyMode() == b.getEnergyMode()
    assert a.getCenters() == b.getCenters()
    assert a.getForceConstants() == b.getForceConstants()
    assert a.getGlobalParameterPrefix() == b.getGlobalParameterPrefix()
    assert a.getForceGroup() == b.getForceGroup()
    assert a.getModelBytes() == b.getModelBytes()
    assert a.getMetadata() == b.getMetadata()


def energy_with(force):
    system = make_system(4)
    system.addForce(force)
    context = make_context(system)
    return energy(context), forces(context)


def test_system_xml_round_trip():
    system = make_system(4)
    index = system.addForce(configured_force())
    xml = openmm.XmlSerializer.serialize(system)
    assert "VAECVForce" in xml
    restored = openmm.XmlSerializer.deserialize(xml)
    original_force = openmmvae.VAECVForce.cast(system.getForce(index))
    restored_force = openmmvae.VAECVForce.cast(restored.getForce(index))
    same_settings(original_force, restored_force)
    c1, c2 = make_context(system), make_context(restored)
    assert energy(c1) == energy(c2)
    np.testing.assert_array_equal(forces(c1), forces(c2))
    assert c2.getParameter("u3_center1") == -0.5


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle", "xml"])
def test_copies_are_equal_and_independent(how):
    force = configured_force()
    if how == "copy":
        other = copy.copy(force)
    elif how == "deepcopy":
        other = copy.deepcopy(force)
    elif how == "pickle":
        other = pickle.loads(pickle.dumps(force))
    else:
        other = openmmvae.VAECVForce.cast(openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force)))
    assert isinstance(other, openmmvae.VAECVForce)
    if how != "xml":
        assert other.thisown, "the copy owns its C++ object"
    same_settings(force, other)
    other.useComponent(1)
    other.setGlobalParameterPrefix("x_")
    assert force.getEnergyMode() == openmmvae.VAECVForce.HarmonicRestraint
    assert force.getGlobalParameterPrefix() == "u3_"
    e1, f1 = energy_with(configured_force())
    e2, f2 = energy_with(copy.deepcopy(force))
    assert e1 == e2
    np.testing.assert_array_equal(f1, f2)


def test_pickle_of_force_inside_system_and_deepcopy_of_system():
    system = make_system(4)
    system.addForce(configured_force())
    cloned = copy.deepcopy(system)  # openmm.System's own deepcopy goes through XML too
    again = pickle.loads(pickle.dumps(openmmvae.VAECVForce.cast(system.getForce(1))))
    same_settings(openmmvae.VAECVForce.cast(cloned.getForce(1)), again)
    assert energy(make_context(system)) == energy(make_context(cloned))


def test_cast():
    system = make_system(4)
    system.addForce(configured_force())
    generic = system.getForce(1)
    assert type(generic) is openmm.Force
    assert openmmvae.VAECVForce.isinstance(generic)
    assert not openmmvae.VAECVForce.isinstance(system.getForce(0))
    force = openmmvae.VAECVForce.cast(generic)
    assert isinstance(force, openmmvae.VAECVForce) and isinstance(force, openmm.Force)
    assert not force.thisown
    force.setForceGroup(7)  # a view of the same C++ object
    assert system.getForce(1).getForceGroup() == 7
    with pytest.raises(openmm.OpenMMException, match="HarmonicBondForce, not a VAEPlugin::VAECVForce"):
        openmmvae.VAECVForce.cast(system.getForce(0))
    with pytest.raises(TypeError):
        openmmvae.VAECVForce.cast("not a force")


def test_construction_from_path_bytes_and_scriptmodule(tmp_path):
    meta = metadata([0, 1, 3], 2)
    data = analytic_bytes(meta)
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    scripted = torch.jit.script(AnalyticCV())
    variants = {
        "bytes": openmmvae.VAECVForce(data),
        "bytearray": openmmvae.VAECVForce(bytearray(data)),
        "str": openmmvae.VAECVForce(str(path)),
        "pathlib": openmmvae.VAECVForce(pathlib.Path(path)),
        "scriptmodule": openmmvae.VAECVForce(scripted, extra_files={"metadata.json": meta}),
        "scriptmodule-dict": openmmvae.VAECVForce(scripted, extra_files={"metadata.json": {
            "format_version": 1, "atoms": [0, 1, 3], "latent": 2}}),
    }
    loaded = torch.jit.load(str(path))
    loaded._extra_files = {"metadata.json": meta}
    variants["loaded-module-attribute"] = openmmvae.VAECVForce(loaded)
    results = {}
    for name, force in variants.items():
        assert force.getAtoms() == [0, 1, 3], name
        assert force.getNumLatentDimensions() == 2, name
        force.useHarmonicRestraint([0.25, -0.5], [123.0, 45.0])
        results[name] = energy_with(force)
    e0, f0 = results["bytes"]
    for name, (e, f) in results.items():
        assert e == e0, name
        np.testing.assert_array_equal(f, f0)
    # A ScriptModule without extra files has no metadata: all particles by default.
    plain = openmmvae.VAECVForce(scripted)
    assert plain.getMetadata() == "" and plain.getAtoms() == []


@pytest.mark.processes
def test_ownership_no_double_free_at_exit():
    """Forces owned by a System, a CustomCVForce, copies and casts: the process exits cleanly."""
    code = r'''
import copy, gc, pickle, sys
sys.path.insert(0, %r)
import openmm, openmmvae
from conftest import analytic_bytes, make_system, make_context, metadata
data = analytic_bytes(metadata([0, 1, 2], 2))
system = make_system(4)
force = openmmvae.VAECVForce(data)
system.addForce(force)
assert not force.thisown
cv = openmm.CustomCVForce("z")
inner = openmmvae.VAECVForce(data)
cv.addCollectiveVariable("z", inner)
system.addForce(cv)
view = openmmvae.VAECVForce.cast(system.getForce(1))
copies = [copy.copy(force), copy.deepcopy(view), pickle.loads(pickle.dumps(inner))]
context = make_context(system)
e = context.getState(getEnergy=True).getPotentialEnergy()
del context, system, cv
gc.collect()
print("copies", len(copies), force.__class__.__name__, "ok")
''' % (str(pathlib.Path(__file__).parent),)
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
