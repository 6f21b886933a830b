#ifndef OPENMM_VAE_TRAINER_MOLECULAR_FEATURES_H_
#define OPENMM_VAE_TRAINER_MOLECULAR_FEATURES_H_

#include <array>
#include <string>
#include <utility>
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
 */
struct BatTree {
    std::array<int, 3> root{{0, 1, 2}};
    std::vector<std::array<int, 4>> rows;
    std::vector<int> torsionReference;  ///< per row: the row its torsion is measured from, or itself (absolute)
    std::vector<bool> constrained;      ///< per row: bond i-j constrained in the System, left out of the features
    std::vector<double> bondLength;     ///< per row: length of a constrained bond in nm (0 for free bonds)
    int numFreeBonds() const;
    int numFeatures() const { return 3 + numFreeBonds() + 2 * static_cast<int>(rows.size()); }
    /** Positions in the row list of the free bonds. */
    std::vector<int> freeRows() const;
};

/** Covalent radius in nm (Cordero et al. 2008) of an element symbol; throws for unknown elements. */
double covalentRadius(const std::string& element);

/**
 * Bonds between atoms from their distances in one configuration: i-j is bonded when
 * 0.04 nm < |r_i - r_j| < R_i + R_j + 0.045 nm (covalent radii), plus any `extra` bonds (e.g. PDB
 * CONECT records). positions: [3 n] nm. Returns pairs (i < j), sorted.
 */
std::vector<std::pair<int, int>> inferBonds(const std::vector<std::string>& elements, const std::vector<double>& positions,
                                            const std::vector<std::pair<int, int>>& extra);

/**
 * Builds the BAT tree over the selected System atoms `atoms` from the System's `bonds`. Root: the
 * heavy atom with the most heavy neighbours in the selection (first in selection order on ties) as
 * r1, its first two heavy neighbours as r0 and r2; rows in breadth-first order, heavy neighbours
 * first. constraints: "hbonds" marks tree bonds to hydrogen as constrained, "none" none. Throws
 * std::invalid_argument when the selection is not connected by bonds or has no such root.
 * Constrained lengths are left at 0 for the caller to fill from data.
 */
BatTree buildBatTree(const std::vector<int>& atoms, const std::vector<std::string>& elements,
                     const std::vector<std::pair<int, int>>& bonds, const std::string& constraints);

} // namespace VAEPlugin

#endif
