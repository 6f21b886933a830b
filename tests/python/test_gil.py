"""With Python's torch imported first, calls that evaluate forces work (the GIL is released around
LibTorch autograd: by our SWIG wrapper for our calls, by the kernels for OpenMM's own calls such as
Context.setVelocitiesToTemperature, which Debian's OpenMM 7.7 wrapper makes with the GIL held)."""

import pathlib

import pytest

from conftest import run_python

HERE = str(pathlib.Path(__file__).parent)


@pytest.mark.processes
def test_torch_imported_first_then_openmm_calls_that_evaluate_forces():
    code = r'''
import torch                      # first, on purpose
import sys
sys.path.insert(0, %r)
import openmm, openmmvae
from openmm import unit
from conftest import mlp_bytes, make_system, make_context, metadata
assert "torch" in sys.modules
force = openmmvae.VAECVForce(mlp_bytes(4, 2, meta=metadata([0, 1, 2, 3], 2)))
force.useHarmonicRestraint([0.1, 0.2], [50.0, 50.0])
system = make_system(4)
system.addForce(force)
cv = openmm.CustomCVForce("z")
inner = openmmvae.VAECVForce(mlp_bytes(4, 2, meta=metadata([0, 1, 2, 3], 2)))
inner.useComponent(1)
cv.addCollectiveVariable("z", inner)
system.addForce(cv)
for platform in ("Reference", "CPU"):
    context = make_context(system, platform)
    context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    state = context.getState(getForces=True, getEnergy=True)
    assert len(state.getForces()) == 4
    z = force.getCollectiveVariableValues(context)
    assert len(z) == 2
    context.getIntegrator().step(20)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 20)
    context.applyConstraints(1e-6)
    print(platform, "ok", z, cv.getCollectiveVariableValues(context))

# Wrapped calls release the GIL: a Python thread keeps running while the main thread is in C++.
import threading, time
ticks = []
stop = threading.Event()
def count():
    while not stop.is_set():
        ticks.append(1)
        time.sleep(0)
thread = threading.Thread(target=count)
thread.start()
for _ in range(200):
    force.getCollectiveVariableValues(context)
stop.set()
thread.join()
print("ticks", len(ticks))
''' % HERE
    result = run_python(code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" ok ") == 2, result.stdout
    assert int(result.stdout.split()[-1]) > 0
