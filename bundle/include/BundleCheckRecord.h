#ifndef OPENMM_VAE_BUNDLE_CHECK_RECORD_H_
#define OPENMM_VAE_BUNDLE_CHECK_RECORD_H_

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#ifdef OPENMMVAE_WITH_TORCH
#include <torch/script.h>
#endif

namespace VAEPlugin {

/**
 * What a bundle's own TorchScript methods return on fixed inputs: the values every native evaluator
 * must reproduce before it may stand in for them (NativeSelfCheck, VAEMCNativeDensities).
 *
 * With LibTorch the record is computed from the module when a bundle is used (fromModule); the writer
 * also stores it in the native section ("checks" of BundleSchema::kNativeFile), which is where a build
 * without LibTorch takes it from. Either way the native code is checked against what the bundle's own
 * methods compute.
 *
 * Inputs: the probe configuration (VAEModelBundle::probePositions of probeAtoms atoms) for forward;
 * `rows` random feature rows x (around the standardisation), latents z, prior noise eps and decoder
 * noise [rows, D, slots] for the density and sampling methods (fixed seed).
 */
struct BundleCheckRecord {
    int probeAtoms = 0;
    std::vector<double> probeLatent;       ///< forward(probe), [L]
    /** Whether the density part is present (trainer bundles with every method of the MC move). */
    bool hasDensities = false;
    int rows = 0, numFeatures = 0, latent = 0, slots = 0;
    bool slotNoise = false;                ///< decoder_sample took [rows, D, slots] noise (else [rows, D], slot 0)
    uint64_t noiseSeed = 0;                ///< the noise is noiseOf(noiseSeed, rows * D * slots)
    std::vector<double> x, z, eps, noise;  ///< inputs, row-major
    std::vector<double> mu, logvar;        ///< encode(x)
    std::vector<double> encoderLogProb;    ///< encoder_log_prob(z, mu, logvar), [rows]
    std::vector<double> priorLogProb;      ///< prior_log_prob(z)
    std::vector<double> decoderLogProb;    ///< decoder_log_prob(x, z)
    std::vector<double> priorSample;       ///< prior_sample(eps), [rows, L]
    std::vector<double> priorSampleLogProb;   ///< prior_log_prob(prior_sample(eps))
    std::vector<double> decoderSample;     ///< decoder_sample(z, noise), [rows, D]
    std::vector<double> decoderSampleLogProb; ///< decoder_log_prob(decoder_sample(z, noise), z)

    /** count uniforms in (0, 1) from a seeded std::mt19937_64 (53 bits each): the decoder noise of the record. */
    static std::vector<double> noiseOf(uint64_t seed, size_t count);
    nlohmann::json toJson() const;
    /** BundleError naming `source` if the record is malformed. */
    static BundleCheckRecord fromJson(const nlohmann::json& j, const std::string& source);
#ifdef OPENMMVAE_WITH_TORCH
    /**
     * Evaluates the module: forward on the probe of probeAtoms atoms (BundleError if it fails or returns
     * no [L] tensor; none for probeAtoms = 0) and, when it has every method of the MC move and withDensities, the density part
     * (left out if any method fails).
     */
    static BundleCheckRecord fromModule(torch::jit::Module& module, int probeAtoms, const std::string& source, bool withDensities = true);
#endif
};

} // namespace VAEPlugin

#endif
