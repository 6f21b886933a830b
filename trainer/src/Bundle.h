#ifndef OPENMM_VAE_TRAINER_BUNDLE_H_
#define OPENMM_VAE_TRAINER_BUNDLE_H_

#include "Dataset.h"

#include <torch/script.h>

#include <nlohmann/json.hpp>

#include <string>

namespace VAEPlugin {

/**
 * Wraps a trained VAE module (model-space methods, standardised features) into the model bundle of
 * design.md: a new module holding a float64 CPU copy of the model as submodule `model`, the
 * standardisation as buffers `feature_mean`, `feature_scale`, and the methods
 *
 *   forward(positions[n,3]) -> z[L]                       latent mean (the CV)
 *   latent_mean(positions[B,n,3]) -> z[B,L]
 *   featurize(positions[B,n,3]) -> (features[B,D], log_jacobian[B])
 *   positions_from_features(features[B,D], reference[B,n,3]) -> positions[B,n,3]
 *   standardize(x[B,D]) -> x_std;  unstandardize(x_std) -> x
 *   encode(x) -> (mu, logvar)                             x in raw feature units
 *   encoder_log_prob(z, mu, logvar) -> [B]
 *   prior_forward(eps) -> (z, logdet); prior_inverse(z) -> (eps, logdet)
 *   prior_log_prob(z) -> [B]; prior_sample(eps) -> z
 *   decoder_log_prob(x, z) -> [B]                          density of raw features
 *   decoder_sample(z, noise) -> x                          raw feature units
 *
 * Each computation is written once (in the model's methods or here) and every other method calls it.
 */
torch::jit::Module makeBundle(const torch::jit::Module& model, const FeatureSpec& features,
                              const Standardization& standardization);

/** The TorchScript source of the bundle methods for a feature kind (exposed for tests and docs). */
std::string bundleSource(const FeatureSpec& features);

/** The TorchScript source of check_positions, featurize and positions_from_features for a kind. */
std::string featureSource(const FeatureSpec& features);

/**
 * Registers what the feature methods read: num_atoms, num_features, feature_kind and, per kind,
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

/**
 * Saves the bundle with `metadata.json` as an extra file, atomically: writes `path.tmp-<pid>` and
 * renames it over `path`, so a half-written file never carries the final name.
 */
void saveBundle(const torch::jit::Module& bundle, const nlohmann::json& metadata, const std::string& path);

/** Reads the metadata.json extra file of a saved bundle. */
nlohmann::json readBundleMetadata(const std::string& path);

} // namespace VAEPlugin

#endif
