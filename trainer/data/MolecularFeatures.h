#ifndef OPENMM_VAE_TRAINER_DATA_MOLECULAR_FEATURES_H_
#define OPENMM_VAE_TRAINER_DATA_MOLECULAR_FEATURES_H_

#include "BatTree.h"

#include <string>
#include <utility>
#include <vector>

namespace VAEPlugin {

// Building the BAT tree (BatTree.h, bundle/) of a molecule from its bonds.

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
