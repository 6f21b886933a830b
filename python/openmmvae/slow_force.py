"""Slow-force stepping: the learned CV evaluated every `interval` MD steps (multiple time steps).

A VAECVForce on a small molecule costs about as much per step as the rest of its force field, yet
the bias it applies changes slowly compared with bond and angle forces. slowForceIntegrator() puts
the given forces in a force group of their own and returns OpenMM's MTSLangevinIntegrator (BAOAB-
RESPA, Tuckerman et al. 1992) with that group in the outer step: the other forces are evaluated
every inner step of length `stepSize`, the slow ones once every `interval` inner steps, with a
kick of interval * stepSize (the impulse the force would have given over those steps).

    cv = openmmvae.VAECVForce("model.pt")
    cv.useHarmonicRestraint([0.5, -0.2], [50.0, 50.0])
    system.addForce(cv)
    integrator = openmmvae.slowForceIntegrator(system, cv, 300 * kelvin, 1 / picosecond, 2 * femtoseconds, 4)
    simulation = app.Simulation(topology, system, integrator)
    simulation.step(25000)            # 25000 outer steps = 100000 steps of 2 fs = 200 ps

One step of the returned integrator is `interval` inner steps (its getStepSize() is the outer step).
Friction 0 gives NVE RESPA. The outer step must stay short compared with the period of the motion
the slow force drives (a stiff restraint on the latent shortens it): too long an outer step heats
the system (resonance) and then blows it up. tests/python/test_slow_force.py checks energy
conservation and the sampled latent distribution at interval 4.
"""

import math
import numbers

import openmm
from openmm import unit

from . import _util

__all__ = ["slowForceIntegrator"]

_NUM_FORCE_GROUPS = 32
# The variables MTSLangevinIntegrator defines: a Context refuses a System with a global parameter so named.
_INTEGRATOR_VARIABLES = ("a", "b", "kT", "x1")


def _groups_of(force):
    """The force groups a force computes in: its own and, for NonbondedForce, its reciprocal space's."""
    groups = {force.getForceGroup()}
    reciprocal = getattr(force, "getReciprocalSpaceForceGroup", None)
    if reciprocal is not None and reciprocal() >= 0:
        groups.add(reciprocal())
    return groups


def _slow_force_list(system, forces):
    """The indices in `system` of the given forces (one Force or an iterable of them)."""
    if isinstance(forces, openmm.Force):
        forces = [forces]
    try:
        forces = list(forces)
    except TypeError:
        raise TypeError("slowForceIntegrator: forces must be a Force (e.g. a VAECVForce) or a list of them, got %s"
                        % type(forces).__name__) from None
    if not forces:
        raise ValueError("slowForceIntegrator: no slow force given")
    # A Force added to a System is the System's own object: compare the C++ objects, not the proxies.
    index_of = {int(system.getForce(i).this): i for i in range(system.getNumForces())}
    indices = []
    for force in forces:
        if not isinstance(force, openmm.Force):
            raise TypeError("slowForceIntegrator: forces must be Force objects (e.g. a VAECVForce), got %s"
                            % type(force).__name__)
        index = index_of.get(int(force.this))
        if index is None:
            raise ValueError("slowForceIntegrator: %s is not a force of this System (add it with system.addForce "
                             "first; a copy, e.g. from XmlSerializer.clone, is another object)" % type(force).__name__)
        if index not in indices:
            indices.append(index)
    return indices


def slowForceIntegrator(system, forces, temperature, friction, stepSize, interval):
    """A Langevin integrator that evaluates `forces` once every `interval` steps of length `stepSize`.

    Puts the given forces (typically the VAECVForce(s) of the System) in one force group that no other
    force of the System uses -- their current group if they share one that is free, else the lowest
    free group -- and returns an openmm.MTSLangevinIntegrator whose outer step, interval * stepSize,
    evaluates that group once and whose inner steps of length stepSize evaluate every other group.
    The other forces keep their groups; each group among them costs one force evaluation per inner
    step, so leave them in one group (ForceField.createSystem puts all in group 0). Call this before
    creating the Context (force groups are read then).

    Parameters
    ----------
    system : openmm.System
        The System holding `forces`; their force group is changed, nothing else.
    forces : Force or list of Force
        The slow forces, already added to `system`.
    temperature : float (K) or Quantity
        The heat bath temperature.
    friction : float (1/ps) or Quantity
        The friction coefficient, applied in every inner step (0: constant energy, RESPA). OpenMM 7.7's
        MTSLangevinIntegrator applies exp(-friction * outer step) in every inner step (OpenMM issue
        3790, fixed in 8.0); the coefficients are set here to exp(-friction * stepSize) on either.
    stepSize : float (ps) or Quantity
        The inner time step, that of plain MD of the System.
    interval : int
        Inner steps per evaluation of the slow forces (>= 1; 1 evaluates them every step).

    Returns
    -------
    openmm.MTSLangevinIntegrator, one step of which is `interval` inner steps. The slow group is that
    of the given forces (forces[0].getForceGroup()).
    """
    if not isinstance(system, openmm.System):
        raise TypeError("slowForceIntegrator: system must be an openmm.System, got %s" % type(system).__name__)
    if isinstance(interval, bool) or not isinstance(interval, numbers.Integral):
        raise TypeError("slowForceIntegrator: interval must be an integer, got %r" % (interval,))
    interval = int(interval)
    if interval < 1:
        raise ValueError("slowForceIntegrator: interval must be >= 1 (inner steps per slow-force evaluation), got %d"
                         % interval)
    temperature = _util.scalar(temperature, unit.kelvin, "slowForceIntegrator: temperature")
    friction = _util.scalar(friction, unit.picosecond ** -1, "slowForceIntegrator: friction")
    step = _util.scalar(stepSize, unit.picosecond, "slowForceIntegrator: stepSize")
    for name, value, positive in (("temperature", temperature, False), ("friction", friction, False),
                                  ("stepSize", step, True)):
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError("slowForceIntegrator: %s must be %s, got %r"
                             % (name, "positive" if positive else "finite and >= 0", value))

    slow = _slow_force_list(system, forces)
    for i in range(system.getNumForces()):
        force = system.getForce(i)
        for j in range(force.getNumGlobalParameters() if hasattr(force, "getNumGlobalParameters") else 0):
            if force.getGlobalParameterName(j) in _INTEGRATOR_VARIABLES:
                raise ValueError("slowForceIntegrator: force %d (%s) has a global parameter %r, a variable name of "
                                 "MTSLangevinIntegrator (%s): rename the parameter"
                                 % (i, type(force).__name__, force.getGlobalParameterName(j), ", ".join(_INTEGRATOR_VARIABLES)))
    fast_groups = set()
    for i in range(system.getNumForces()):
        if i not in slow:
            fast_groups |= _groups_of(system.getForce(i))
    if not fast_groups:
        raise ValueError("slowForceIntegrator: every force of the System is a slow force; nothing is left for the "
                         "inner steps")
    current = {system.getForce(i).getForceGroup() for i in slow}
    free = [g for g in range(_NUM_FORCE_GROUPS) if g not in fast_groups]
    if not free:
        raise ValueError("slowForceIntegrator: no free force group: the other forces of the System use all %d groups"
                         % _NUM_FORCE_GROUPS)
    slow_group = current.pop() if len(current) == 1 and current <= set(free) else free[0]
    for i in slow:
        system.getForce(i).setForceGroup(slow_group)

    groups = [(slow_group, 1)] + [(g, interval) for g in sorted(fast_groups)]
    integrator = openmm.MTSLangevinIntegrator(temperature, friction, interval * step, groups)
    # The O step runs in every inner step: its coefficients are those of the inner step (see friction).
    integrator.setGlobalVariableByName("a", math.exp(-friction * step))
    integrator.setGlobalVariableByName("b", math.sqrt(-math.expm1(-2 * friction * step)))
    return integrator
