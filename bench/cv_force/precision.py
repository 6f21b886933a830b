#!/usr/bin/python3
"""VAECVForce Precision "single" against "double" on alanine dipeptide bundles: energy and force differences.

For each bundle (positions or bat features of alanine dipeptide, e.g. written by run.py's make_bundle):
20 frames of 300 K Langevin MD (Reference, 400 fs apart), the bundle's CV under a harmonic restraint
(kappa = 100 on both latent dimensions, centred at 0) evaluated with Precision single and double on the
Reference platform; prints the largest energy and force values and differences.

    bench/cv_force/precision.py positions=ala-positions.pt bat=ala-bat.pt
"""
import sys

import numpy as np
import openmm
import openmm.unit as unit

import openmmvae
from openmmvae.apps import alanine_dipeptide as ad


def frames(system, count=20, interval=200):
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtosecond)
    integrator.setRandomNumberSeed(1)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(ad.build_positions())
    openmm.LocalEnergyMinimizer.minimize(context, 1.0)
    result = []
    for _ in range(count):
        integrator.step(interval)
        result.append(context.getState(getPositions=True).getPositions())
    return result


def energies_and_forces(system, bundle, precision, positions):
    """The restraint alone (a System of the same particles and constraints) in the given precision."""
    biased = openmm.System()
    for i in range(system.getNumParticles()):
        biased.addParticle(system.getParticleMass(i))
    for i in range(system.getNumConstraints()):
        biased.addConstraint(*system.getConstraintParameters(i))
    force = openmmvae.VAECVForce(bundle)
    force.setProperty("Precision", precision)
    force.useHarmonicRestraint([0.0, 0.0], [100.0, 100.0])
    biased.addForce(force)
    context = openmm.Context(biased, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    energies, forces = [], []
    for frame in positions:
        context.setPositions(frame)
        state = context.getState(getEnergy=True, getForces=True)
        energies.append(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
        forces.append(state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))
    return np.array(energies), np.array(forces), force.getImplementationInContext(context)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    system = ad.create_system()
    positions = frames(system)
    for argument in sys.argv[1:]:
        label, _, bundle = argument.rpartition("=")
        e1, f1, single = energies_and_forces(system, bundle, "single", positions)
        e2, f2, double = energies_and_forces(system, bundle, "double", positions)
        df = np.abs(f1 - f2)
        print(f"{label or bundle}: {single} vs {double}, {len(positions)} frames: |E| up to {np.abs(e2).max():.3g} kJ/mol, "
              f"max |dE| {np.abs(e1 - e2).max():.2g} kJ/mol; |F| up to {np.abs(f2).max():.3g} kJ/mol/nm, max |dF| {df.max():.2g}, "
              f"rms dF {np.sqrt((df ** 2).mean()):.2g}")


if __name__ == "__main__":
    main()
