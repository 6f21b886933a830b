#ifndef OPENMM_VAE_WHOLE_MOLECULE_H_
#define OPENMM_VAE_WHOLE_MOLECULE_H_

#include "openmm/Vec3.h"
#include <cmath>
#include <vector>

namespace VAEPlugin {

/**
 * The periodic imaging of a VAECVForce's atoms in a periodic System (the rule of
 * VAECVForce::usesPeriodicBoundaryConditions, as PLUMED's WHOLEMOLECULES): atom 0 stays as stored;
 * each atom i > 0 is shifted by whole box vectors to the image nearest to the (already shifted)
 * atom i - 1, in OpenMM's reduced triclinic box (c first, then b, then a). `positions` holds
 * 3 coordinates per atom (nm) and is changed in place; `box` is the current box vectors a, b, c.
 * A shift by box vectors has unit Jacobian, so forces on the shifted atoms are the forces on the
 * stored ones. The device kernel (platforms/common/src/kernels/vaeCVForce.cc, makeMoleculeWhole)
 * restates this rule; the platform tests compare both with a whole molecule.
 */
inline void makeMoleculeWhole(std::vector<double>& positions, const OpenMM::Vec3 box[3]) {
    const int numAtoms = positions.size() / 3;
    for (int i = 1; i < numAtoms; i++) {
        const double* previous = &positions[3 * i - 3];
        double* atom = &positions[3 * i];
        OpenMM::Vec3 d(atom[0] - previous[0], atom[1] - previous[1], atom[2] - previous[2]);
        OpenMM::Vec3 shift = box[2] * std::round(d[2] / box[2][2]);
        shift += box[1] * std::round((d[1] - shift[1]) / box[1][1]);
        shift += box[0] * std::round((d[0] - shift[0]) / box[0][0]);
        for (int k = 0; k < 3; k++)
            atom[k] -= shift[k];
    }
}

} // namespace VAEPlugin

#endif
