"""slowForceIntegrator (openmmvae.slow_force): a VAECVForce in the outer step of a multiple-time-step
Langevin integrator, evaluated every `interval` inner steps.

Checked on the Mueller particle (mass 10 amu) with a harmonic restraint on the 1-D latent of
tests/data/mueller-xy-condind.pt, Reference platform (double precision), fixed seeds:
- energy: at friction 0 (NVE RESPA) the total energy is conserved at interval 4 to a bound close to
  the single-step run's, and a broken outer step (interval 64: 320 fs, half the period of the
  particle's fastest oscillation) fails the same check;
- distribution: the restrained latent sampled at interval 4 agrees with the single-step run (block
  means of z and of its within-block variance, Welch t); the test's power is shown by
  `python3 tests/python/test_slow_force.py --power` (not run in CI; results in its docstring);
- the O step's friction is that of the inner step (OpenMM 7.7's MTSLangevinIntegrator applies the
  outer step's, OpenMM issue 3790);
- force groups, the CPU platform, and errors.
"""

import math
import os
import sys

import numpy as np
import pytest

import openmm
import openmmvae
from openmm import unit
from openmmvae.apps import mueller

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLE = os.path.join(HERE, "..", "data", "mueller-xy-condind.pt")
KT = mueller.kT(300.0)
INNER_STEP = 0.005  # ps: the Mueller particle's fastest period is ~0.6 ps
CENTER = -0.5       # restraint centre (latent units); z is ~ -0.78 at the deepest minimum, START


def mueller_plane_system():
    """One particle (10 amu) with kT * U(x, y) + 500 z^2 as a numeric expression: mueller.mueller_system's
    global parameter "kT" is a variable name of MTSLangevinIntegrator (see test_errors)."""
    system = openmm.System()
    system.addParticle(10.0)
    force = openmm.CustomExternalForce("%r*(%s) + %r*z^2" % (KT, mueller.MUELLER_EXPRESSION, mueller.Z_RESTRAINT))
    force.addParticle(0, [])
    system.addForce(force)
    return system


def restrained_system(kappa, center=CENTER):
    system = mueller_plane_system()
    cv = openmmvae.VAECVForce(BUNDLE)
    cv.useHarmonicRestraint([center], [kappa])
    system.addForce(cv)
    return system, cv


def started_context(system, integrator, seed, platform="Reference"):
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
    context.setPositions([mueller.START])
    context.setVelocitiesToTemperature(300.0, seed)
    return context


# ---- energy conservation at friction 0 ----

def nve_energy(interval, kappa=10.0, inner_steps=8000, seed=5):
    """Total energy (kT) every 8 inner steps (every outer step beyond) of a friction-0 run of 40 ps."""
    system, cv = restrained_system(kappa)
    integrator = openmmvae.slowForceIntegrator(system, cv, 300.0, 0.0, INNER_STEP, interval)
    context = started_context(system, integrator, seed)
    every = max(1, 8 // interval)
    energies = []
    for _ in range(inner_steps // (interval * every)):
        integrator.step(every)
        state = context.getState(getEnergy=True)
        energies.append((state.getPotentialEnergy() + state.getKineticEnergy()).value_in_unit(unit.kilojoule_per_mole))
    return np.array(energies) / KT


def energy_error(energies):
    """(fluctuation, drift) in kT: the standard deviation, and the mean of the last quarter minus the first's."""
    quarter = len(energies) // 4
    return float(energies.std()), float(energies[-quarter:].mean() - energies[:quarter].mean())


# The stated bound: 0.01 kT of fluctuation and 0.02 kT of drift over 40 ps. Measured (seeds 5, 6):
# single step 0.0011-0.0016 kT and <= 0.0015 kT; interval 4 0.0035-0.0042 kT and <= 0.0065 kT;
# interval 16 (80 fs) 0.014-0.035 kT; interval 64 0.8-2.5 kT. (A ReLU encoder makes the force
# piecewise smooth, so the error is not a clean power of the step.)
FLUCTUATION_BOUND = 0.01
DRIFT_BOUND = 0.02


def test_energy_is_conserved_with_the_cv_in_the_outer_step():
    single = energy_error(nve_energy(1))
    slow = energy_error(nve_energy(4))
    assert single[0] < 0.25 * FLUCTUATION_BOUND and abs(single[1]) < 0.25 * DRIFT_BOUND, single
    assert slow[0] < FLUCTUATION_BOUND and abs(slow[1]) < DRIFT_BOUND, slow
    assert slow[0] < 10 * single[0], (slow, single)


def test_a_too_long_outer_step_fails_the_energy_check():
    # 64 x 5 fs = 320 fs, about half the period of the z oscillation (500 z^2, 10 amu): resonance.
    broken = energy_error(nve_energy(64))
    assert broken[0] > 10 * FLUCTUATION_BOUND, broken


# ---- the sampled latent distribution ----

def restrained_latent(interval, seed, kappa=100.0, center=CENTER, inner_steps=120000, stride=20):
    """z every `stride` inner steps of a Langevin run (300 K, 5/ps) after 2000 inner steps of equilibration."""
    system, cv = restrained_system(kappa, center)
    integrator = openmmvae.slowForceIntegrator(system, cv, 300.0, 5.0, INNER_STEP, interval)
    integrator.setRandomNumberSeed(seed)
    context = started_context(system, integrator, seed)
    integrator.step(2000 // interval)
    z = np.empty(inner_steps // stride)
    for i in range(z.size):
        integrator.step(stride // interval)
        z[i] = cv.getCollectiveVariableValues(context)[0]
    return z


def block_t_statistics(a, b, blocks=20):
    """Welch t of two runs' block means of z and of their within-block variances. Blocks of 300 samples
    (6000 steps) are ~150 correlation times of z long (measured: ~2 samples), so block values are
    independent and the t values ~ t(~38) under the null."""
    def welch(x, y):
        return (x.mean() - y.mean()) / math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    sa, sb = a.reshape(blocks, -1), b.reshape(blocks, -1)
    return welch(sa.mean(axis=1), sb.mean(axis=1)), welch(sa.var(axis=1), sb.var(axis=1))


# |t| > 4: a false rejection has probability ~3e-4 per statistic (t with 38 degrees of freedom).
T_CRITICAL = 4.0


def test_restrained_latent_distribution_matches_the_single_step_run():
    single = restrained_latent(1, seed=1)
    slow = restrained_latent(4, seed=2)
    t_mean, t_variance = block_t_statistics(single, slow)
    assert abs(t_mean) < T_CRITICAL and abs(t_variance) < T_CRITICAL, (t_mean, t_variance, single.mean(), slow.mean(),
                                                                       single.std(), slow.std())
    # the restraint acts: z is pulled from ~ -0.78 (START's minimum) towards the centre
    assert abs(slow.mean() - CENTER) < 0.1


def power_study(repeats=10):
    """Rejection rates of the distribution test (|t| > 4 on either statistic) at CI size, interval 4
    against the single-step run, for the true setting and two wrong ones. Measured (repeats=10, seeds
    1-20, 2 minutes): true setting 0/10 rejected (|t| <= 2.1); centre -0.45 instead of -0.5 (z's mean
    moves by 0.048, 0.3 of its standard deviation 0.166) 10/10 (t(mean) -6.8 to -9.6); force constant 70
    instead of 100 (z's standard deviation +13 %) 10/10 (t(variance) -6.8 to -12.9). The block means of
    z scatter by 0.0135, so a mean shift of ~0.017 (0.1 standard deviation) is rejected half the time.
    Rerun: python3 tests/python/test_slow_force.py --power"""
    settings = {"true": {}, "centre -0.45": {"center": -0.45}, "kappa 70": {"kappa": 70.0}}
    for name, wrong in settings.items():
        rejected, ts = 0, []
        for r in range(repeats):
            t = block_t_statistics(restrained_latent(1, seed=2 * r + 1), restrained_latent(4, seed=2 * r + 2, **wrong))
            ts.append(t)
            rejected += max(abs(t[0]), abs(t[1])) > T_CRITICAL
        print("%-13s rejected %d/%d; t(mean) %s; t(variance) %s" % (name, rejected, repeats,
              " ".join("%+.1f" % t[0] for t in ts), " ".join("%+.1f" % t[1] for t in ts)), flush=True)


# ---- the O step, groups, platforms ----

def test_friction_is_that_of_the_inner_step():
    # A free particle at 0 K: every inner step multiplies v by a = exp(-friction * inner step), so after
    # n outer steps v = v0 exp(-friction * n * interval * inner step), whatever the interval.
    system = openmm.System()
    system.addParticle(1.0)
    for _ in range(2):
        system.addForce(openmm.CustomExternalForce("0"))
        system.getForce(system.getNumForces() - 1).addParticle(0, [])
    friction, interval, outer_steps = 2.0, 8, 25
    integrator = openmmvae.slowForceIntegrator(system, system.getForce(1), 0.0, friction, INNER_STEP, interval)
    assert integrator.getStepSize().value_in_unit(unit.picosecond) == pytest.approx(interval * INNER_STEP)
    assert integrator.getGlobalVariableByName("a") == pytest.approx(math.exp(-friction * INNER_STEP), rel=1e-14)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions([openmm.Vec3(0, 0, 0)])
    context.setVelocities([openmm.Vec3(1.0, -2.0, 0.5)])
    integrator.step(outer_steps)
    v = context.getState(getVelocities=True).getVelocities()[0].value_in_unit(unit.nanometer / unit.picosecond)
    decay = math.exp(-friction * outer_steps * interval * INNER_STEP)
    assert list(v) == pytest.approx([1.0 * decay, -2.0 * decay, 0.5 * decay], rel=1e-12)


def test_force_groups():
    system, cv = restrained_system(10.0)
    other = system.getForce(0)
    other.setForceGroup(2)
    nonbonded = openmm.NonbondedForce()
    nonbonded.addParticle(0.0, 0.3, 0.0)
    nonbonded.setForceGroup(0)
    nonbonded.setReciprocalSpaceForceGroup(1)
    system.addForce(nonbonded)
    openmmvae.slowForceIntegrator(system, [cv], 300.0, 1.0, INNER_STEP, 4)
    assert cv.getForceGroup() == 3  # 0, 1 (reciprocal space) and 2 are used by the other forces
    assert (other.getForceGroup(), nonbonded.getForceGroup(), nonbonded.getReciprocalSpaceForceGroup()) == (2, 0, 1)
    # a group of their own that no other force uses is kept
    cv.setForceGroup(7)
    openmmvae.slowForceIntegrator(system, cv, 300.0, 1.0, INNER_STEP, 4)
    assert cv.getForceGroup() == 7
    # forces given twice count once
    openmmvae.slowForceIntegrator(system, [cv, cv], 300.0, 1.0, INNER_STEP, 4)
    assert cv.getForceGroup() == 7


def test_cpu_platform_follows_the_reference_trajectory():
    # NVE, 200 inner steps: the CV kernel of the CPU platform honours the group split as Reference does.
    positions = []
    for platform in ("Reference", "CPU"):
        system, cv = restrained_system(100.0)
        integrator = openmmvae.slowForceIntegrator(system, cv, 300.0, 0.0, INNER_STEP, 4)
        context = started_context(system, integrator, seed=3, platform=platform)
        integrator.step(50)
        positions.append(context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    assert np.max(np.abs(positions[0] - positions[1])) < 1e-5
    assert np.max(np.abs(positions[0] - np.array(mueller.START))) > 0.01  # it moved


def test_errors():
    system, cv = restrained_system(10.0)
    with pytest.raises(ValueError, match="interval must be >= 1"):
        openmmvae.slowForceIntegrator(system, cv, 300.0, 1.0, INNER_STEP, 0)
    for interval in (2.5, True, "4"):
        with pytest.raises(TypeError, match="interval must be an integer"):
            openmmvae.slowForceIntegrator(system, cv, 300.0, 1.0, INNER_STEP, interval)
    with pytest.raises(ValueError, match="stepSize must be positive"):
        openmmvae.slowForceIntegrator(system, cv, 300.0, 1.0, 0.0, 4)
    with pytest.raises(ValueError, match="friction must be finite and >= 0"):
        openmmvae.slowForceIntegrator(system, cv, 300.0, -1.0, INNER_STEP, 4)
    with pytest.raises(TypeError, match="temperature"):
        openmmvae.slowForceIntegrator(system, cv, 300.0 * unit.nanometer, 1.0, INNER_STEP, 4)
    # not a force of this System: a new force, a copy, another System's
    outside = openmmvae.VAECVForce(BUNDLE)
    with pytest.raises(ValueError, match="not a force of this System"):
        openmmvae.slowForceIntegrator(system, outside, 300.0, 1.0, INNER_STEP, 4)
    copy = openmm.XmlSerializer.clone(system)
    with pytest.raises(ValueError, match="not a force of this System"):
        openmmvae.slowForceIntegrator(copy, cv, 300.0, 1.0, INNER_STEP, 4)
    with pytest.raises(ValueError, match="no slow force"):
        openmmvae.slowForceIntegrator(system, [], 300.0, 1.0, INNER_STEP, 4)
    with pytest.raises(TypeError, match="Force objects"):
        openmmvae.slowForceIntegrator(system, [BUNDLE], 300.0, 1.0, INNER_STEP, 4)
    with pytest.raises(TypeError, match="system must be an openmm.System"):
        openmmvae.slowForceIntegrator(None, cv, 300.0, 1.0, INNER_STEP, 4)
    with pytest.raises(ValueError, match="every force of the System is a slow force"):
        openmmvae.slowForceIntegrator(system, [system.getForce(0), cv], 300.0, 1.0, INNER_STEP, 4)
    # no free force group: the other forces use all 32
    crowded, cv2 = restrained_system(10.0)
    for group in range(32):
        force = openmm.CustomExternalForce("0")
        force.setForceGroup(group)
        crowded.addForce(force)
    with pytest.raises(ValueError, match="no free force group"):
        openmmvae.slowForceIntegrator(crowded, cv2, 300.0, 1.0, INNER_STEP, 4)
    # a global parameter named as one of the integrator's variables (mueller_system's "kT")
    named = mueller.mueller_system(300.0)
    cv3 = openmmvae.VAECVForce(BUNDLE)
    named.addForce(cv3)
    with pytest.raises(ValueError, match="global parameter 'kT'"):
        openmmvae.slowForceIntegrator(named, cv3, 300.0, 1.0, INNER_STEP, 4)


if __name__ == "__main__":
    if "--power" in sys.argv:
        power_study()
    else:
        sys.exit(pytest.main([__file__, "-q"]))
