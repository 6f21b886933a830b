#ifndef OPENMM_VAE_BUNDLE_BAT_TREE_H_
#define OPENMM_VAE_BUNDLE_BAT_TREE_H_

#include <array>
#include <cstddef>
#include <vector>

namespace VAEPlugin {

/**
 * The spanning tree that defines bond-angle-torsion (BAT) features of the selected atoms. Indices
 * are positions in the selection (0..n-1), not System indices.
 *
 * The root is three bonded heavy atoms r0-r1-r2: its internals are the bonds r0-r1, r1-r2 and the
 * angle r0-r1-r2; r0's position, the direction r0->r1 and the rotation of r2 about that axis are the
 * six external coordinates (kept from the current state when positions are rebuilt). Every other
 * atom i is a row (i, j, k, l): bond i-j, angle i-j-k, torsion i-j-k-l, with j its parent in the tree
 * and k, l fixed by j (so siblings share them). Rows are in placement order: j, k, l are placed
 * before i. A sibling after the first takes its torsion relative to the first sibling's (the
 * torsion-offset convention, a shear with unit Jacobian).
 *
 * Features: [r0-r1, r1-r2, free row bonds..., angle r0-r1-r2, row angles..., row torsions...];
 * torsions periodic. ln J = sum over free bonds (root included) 2 ln r + sum over angles ln sin theta.
 * The trainer builds trees from bonds (trainer/data/MolecularFeatures.h); the bundle stores them.
 */
struct BatTree {
    std::array<int, 3> root{{0, 1, 2}};
    std::vector<std::array<int, 4>> rows;
    std::vector<int> torsionReference;  ///< per row: the row its torsion is measured from, or itself (absolute)
    std::vector<bool> constrained;      ///< per row: bond i-j constrained in the System, left out of the features
    std::vector<double> bondLength;     ///< per row: length of a constrained bond in nm (0 for free bonds)
    /**
     * Per row: the multiplicity m of the rotor whose absolute torsion this row carries (the first
     * sibling of a rotor's substituents; science.md section 7 "Rotor multiplicity"), 1 otherwise;
     * empty = all 1. Set by the trainer's tree builder; the features' multiplicity comes from it.
     */
    std::vector<int> rotorMultiplicity;
    int numFreeBonds() const;
    int numFeatures() const { return 3 + numFreeBonds() + 2 * static_cast<int>(rows.size()); }
    /** Positions in the row list of the free bonds. */
    std::vector<int> freeRows() const;
};

} // namespace VAEPlugin

#endif
