#ifndef OPENMM_VAE_BUNDLE_FEATURE_MAPS_H_
#define OPENMM_VAE_BUNDLE_FEATURE_MAPS_H_

/**
 * The feature maps of design.md "Feature kinds", written once as TorchScript: the bundle's own
 * featurize / positions_from_features, which the trainer also uses to featurise trajectories (so the
 * data and the bundle cannot disagree) and which native evaluators are tested against.
 */

#include "FeatureSpec.h"

#include <torch/script.h>

#include <string>

namespace VAEPlugin {

/**
 * The TorchScript source of check_positions, featurize(positions[B,n,3]) -> (features[B,D],
 * log_jacobian[B]) and positions_from_features(features[B,D], reference[B,n,3]) -> positions[B,n,3]
 * for a kind.
 */
std::string featureSource(FeatureKind kind);

/**
 * Registers what the feature methods read (names: BundleSchema::Attribute): num_atoms, num_features,
 * feature_kind and, per kind,
 *  - cartesian: buffer `reference` [n, 3] (nm, float64);
 *  - bat: List[int] attributes bat_root [3], bat_i, bat_j, bat_k, bat_l [m] (rows of BatTree, positions
 *    in the selection), bat_torsion_reference [m] (row index; itself = absolute torsion),
 *    bat_free_rows (rows whose bond is a feature), buffers bat_torsion_offset [m] (1.0 where the
 *    torsion is relative) and bat_bond_length [m] (constrained lengths, nm; 0 for free bonds).
 * Native evaluators read these names.
 */
void addFeatureMembers(torch::jit::Module& module, const FeatureSpec& features);

/** A module with only the feature methods (featurize, positions_from_features) of a spec. */
torch::jit::Module makeFeatureModule(const FeatureSpec& features);

} // namespace VAEPlugin

#endif
