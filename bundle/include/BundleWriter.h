#ifndef OPENMM_VAE_BUNDLE_WRITER_H_
#define OPENMM_VAE_BUNDLE_WRITER_H_

/**
 * The writer of model bundles (design.md "The model bundle"): the bundle module (a float64 CPU copy
 * of the VAE, the standardisation, the feature members and the bundle methods) and its
 * metadata.json. Everything that makes a bundle is here; the trainer only supplies the values.
 */

#include "FeatureSpec.h"

#include <torch/script.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace VAEPlugin {

/** The architecture values of metadata.json "architecture" (the rest comes from the features and latent). */
struct BundleArchitecture {
    int hidden = 50;                     ///< encoder/decoder width
    int flowHidden = 20;                 ///< width of the prior's coupling conditioners
    DecoderKind decoder = DecoderKind::Mse;
    int mixtureComponents = 1;           ///< K of the autoregressive decoder's periodic conditionals
    std::vector<int> rotorMultiplicity;  ///< per feature (empty: all 1)
};

/** Everything a bundle file is made of. */
struct BundleContents {
    torch::jit::Module model;            ///< the trained VAE (model-space methods, standardised features; any dtype/device)
    FeatureSpec features;
    std::vector<double> featureMean;     ///< standardisation x_std = (x - mean) / scale, per feature
    std::vector<double> featureScale;
    int latent = 1;
    BundleArchitecture architecture;
    std::optional<double> temperature;   ///< kelvin of the training data; none for kT-unit systems
    double beta = 0;
    nlohmann::json provenance = nlohmann::json::object();  ///< keys: BundleSchema::Provenance
};

/**
 * Wraps a trained VAE module into the bundle module: a float64 CPU copy of the model as submodule
 * `model`, the standardisation as buffers `feature_mean`, `feature_scale`, and the methods
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
                              const std::vector<double>& featureMean, const std::vector<double>& featureScale);

/** The TorchScript source of the bundle methods for a feature kind (exposed for tests and docs). */
std::string bundleSource(FeatureKind kind);

/** The "features" object of metadata.json: kind, periodic, names and the kind's parameters (System atom indices). */
nlohmann::json featuresMetadata(const FeatureSpec& features);

/** The whole metadata.json of a bundle (format version, atoms, features, standardisation, architecture, ...). */
nlohmann::json bundleMetadata(const BundleContents& contents);

/**
 * Saves a bundle module with `metadata` as its metadata.json extra file, its native section (the
 * module's NativeModuleTree and BundleCheckRecord for the metadata's atoms) and the integrity record
 * (BundleArchive), straight to `path` (callers
 * that need the file to appear whole, like the trainer, write a temporary file and rename it).
 * Throws std::runtime_error naming the path.
 */
void saveBundle(const torch::jit::Module& bundle, const nlohmann::json& metadata, const std::string& path);

/** makeBundle + bundleMetadata + saveBundle. */
void writeBundle(const BundleContents& contents, const std::string& path);

} // namespace VAEPlugin

#endif
