"""Python-side argument conversion for the SWIG wrapper (paths, ScriptModules, unit quantities)
and the XML-based copy/pickle support. Internal: used by the proxies in openmmvae.openmmvae."""

import io
import json
import operator
import os
import sys

import openmm
from openmm import unit

KJ_PER_MOL = unit.kilojoule_per_mole
ZIP_SIGNATURE = b"PK\x03\x04"


def _is_script_module(model):
    # A ScriptModule can only exist once torch has been imported: never import torch otherwise.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.jit.ScriptModule)


def _encode_extra_file(name, value):
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value
    raise TypeError("VAECVForce: extra file %r must be str, bytes or (for JSON) a dict, got %s" % (name, type(value).__name__))


def model_argument(model, extra_files=None):
    """What the C++ constructor receives: a path (str) or the bytes of a TorchScript archive."""
    if _is_script_module(model):
        import torch
        if extra_files is None:
            extra_files = getattr(model, "_extra_files", None)
        files = {}
        for name, value in (extra_files or {}).items():
            files[name] = _encode_extra_file(name, value)
        buffer = io.BytesIO()
        torch.jit.save(model, buffer, _extra_files=files)
        return buffer.getvalue()
    if extra_files is not None:
        raise TypeError("VAECVForce: extra_files can only be given with a torch.jit.ScriptModule "
                        "(a file or bytes already carry their own extra files)")
    if isinstance(model, (bytes, bytearray, memoryview)):
        model = bytes(model)
        if not model.startswith(ZIP_SIGNATURE):
            raise openmm.OpenMMException("VAECVForce: the model bytes (%d bytes, starting %r) are not a TorchScript "
                                         "archive (no zip signature)" % (len(model), model[:8]))
        return model
    if isinstance(model, os.PathLike):
        model = os.fsdecode(os.fspath(model))
    if isinstance(model, str):
        if "\0" in model:
            raise ValueError("VAECVForce: the model path %r contains a NUL character" % model)
        return model
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        raise TypeError("VAECVForce: %s is a torch.nn.Module but not a TorchScript module; "
                        "pass torch.jit.script(model)" % type(model).__name__)
    raise TypeError("VAECVForce: the model must be a path (str or os.PathLike), the bytes of a TorchScript archive "
                    "or a torch.jit.ScriptModule, got %s" % type(model).__name__)


def _strip(value, target_unit, what):
    if unit.is_quantity(value):
        try:
            if target_unit is None:
                return value.value_in_unit(unit.dimensionless)
            return value.value_in_unit(target_unit)
        except TypeError as e:
            raise TypeError("%s: %s" % (what, e)) from None
    return value


def scalar(value, target_unit, what):
    """A float from a number or a unit Quantity (converted to target_unit)."""
    value = _strip(value, target_unit, what)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError("%s must be a number, got %r" % (what, value)) from None


def float_list(values, target_unit, what):
    """A list of floats from a sequence, numpy array or unit Quantity (of a sequence, or a sequence of
    Quantities); quantities are converted to target_unit (None: dimensionless)."""
    values = _strip(values, target_unit, what)
    if hasattr(values, "tolist") and not unit.is_quantity(values):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError("%s must be a sequence of numbers, got %s" % (what, type(values).__name__))
    return [float(_strip(v, target_unit, what)) for v in values]


def int_list(values, what):
    """A list of ints from a sequence or numpy array of integers."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError("%s must be a sequence of integers, got %s" % (what, type(values).__name__))
    result = []
    for i, v in enumerate(values):
        try:
            result.append(operator.index(v))
        except TypeError:
            raise TypeError("%s: element %d must be an integer, got %r" % (what, i, v)) from None
    return result


def index(value, what):
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError("%s must be an integer, got %r" % (what, value)) from None


def force_to_xml(force):
    return openmm.XmlSerializer.serialize(force)


def force_from_xml(xml):
    """A new VAECVForce, owned by Python, from the XML written by force_to_xml()."""
    from openmmvae.openmmvae import VAECVForce
    generic = openmm.XmlSerializer.deserialize(xml)
    force = VAECVForce.cast(generic)
    # Hand the ownership of the C++ object from the generic proxy to the typed one.
    if generic.thisown:
        generic.thisown = False
        force.thisown = True
    del force._owner
    return force


def force_repr(force):
    try:
        mode = force.getEnergyMode()
        if mode == force.HarmonicRestraint:
            energy = "HarmonicRestraint(centers=%s, forceConstants=%s, parameters %s*, %s*)" % (
                force.getCenters(), force.getForceConstants(), force.getCenterParameterName(0)[:-1],
                force.getForceConstantParameterName(0)[:-1])
        elif mode == force.GridBias:
            energy = "GridBias(%r)" % force.getGridBias()
        else:
            energy = "Component(%d)" % force.getComponent()
        atoms = force.getAtoms()
        if not atoms:
            atoms_text = "all particles"
        elif len(atoms) <= 8:
            atoms_text = "atoms %s" % atoms
        else:
            atoms_text = "%d atoms [%d, %d, ..., %d]" % (len(atoms), atoms[0], atoms[1], atoms[-1])
        metadata = force.getMetadata()
        latent = ""
        if metadata:
            try:
                latent = ", latent=%s" % json.loads(metadata).get("latent", "?")
            except ValueError:
                pass
        return "<openmmvae.VAECVForce: %s, %s%s, model %d bytes%s, group %d>" % (
            energy, atoms_text, latent, len(force.getModelBytes()), ", with metadata" if metadata else "",
            force.getForceGroup())
    except Exception as e:  # never let repr fail
        return "<openmmvae.VAECVForce (%s)>" % e
