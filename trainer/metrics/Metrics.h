#ifndef OPENMM_VAE_TRAINER_METRICS_H_
#define OPENMM_VAE_TRAINER_METRICS_H_

/**
 * Latent-space metrics of science.md section 3 for a model bundle and a data set.
 * All computations in float64; inputs are raw feature units (as the bundle methods take them).
 */

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace VAEPlugin {

struct LatentMetricsOptions {
    int64_t batchSize = 200;   ///< JD_encode: pairs are taken inside batches of this many consecutive rows
    int bins = 100;            ///< histogram bins of each marginal entropy (total correlation)
    uint64_t seed = 1;         ///< draws of z ~ q(z|x) and z ~ N(zbar, I)
};

struct LatentMetrics {
    std::vector<double> jdEncode;     ///< per latent dimension
    double jdEncodeTotal = 0;         ///< sum over dimensions
    int activeDims = 0;               ///< dimensions with log10(JD_encode,k) > -1
    double klQN = 0;                  ///< KL(q(z) || N(zbar, I))
    double klNQ = 0;                  ///< KL(N(zbar, I) || q(z))
    double jdPrior = 0;               ///< 0.5 (klQN + klNQ)
    std::vector<double> marginalEntropies;  ///< S[q(z_k)] from histograms
    double jointEntropy = 0;          ///< S[q(z)] ~ < -ln P_flow(z) >_{z ~ q}
    double totalCorrelation = 0;      ///< sum_k S[q(z_k)] - S[q(z)]
    int64_t samples = 0;              ///< number of configurations used
};

/**
 * Computes every latent metric of a bundle on `features` ([n, D], raw units, any floating dtype;
 * converted to double). One z ~ q(z|x) per configuration. Throws std::invalid_argument for empty
 * data, a feature count that differs from the bundle's, or non-finite values (naming the first bad row).
 */
LatentMetrics computeLatentMetrics(torch::jit::Module& bundle, const torch::Tensor& features,
                                   const LatentMetricsOptions& options = {});

/** Checks a [n, D] data set against a bundle (non-empty, D matches, finite); throws std::invalid_argument. */
void checkFeatures(torch::jit::Module& bundle, const torch::Tensor& features, const char* what);

/** Number of features D of a bundle (from its model's num_features attribute). */
int64_t bundleNumFeatures(torch::jit::Module& bundle);

// ---- building blocks (exposed for tests) ----

/** Elementwise KL(N(mu_a, exp(lva)) || N(mu_b, exp(lvb))) of 1-D Gaussians. */
torch::Tensor gaussianKL(const torch::Tensor& muA, const torch::Tensor& logvarA, const torch::Tensor& muB,
                         const torch::Tensor& logvarB);

/**
 * JD_encode per dimension ([L] double): the symmetrised KL 0.5 [KL(a||b) + KL(b||a)] averaged over all
 * pairs a != b inside batches of `batchSize` consecutive rows (the last, shorter batch included when it
 * has at least two rows). mu, logvar: [n, L].
 */
torch::Tensor jdEncode(const torch::Tensor& mu, const torch::Tensor& logvar, int64_t batchSize);

/** Entropy (nats) of 1-D samples from a histogram with `bins` equal bins over their range. */
double histogramEntropy(const torch::Tensor& samples, int bins);

/**
 * Total correlation sum_k S[z_k] - S[z] of samples z [n, L] with ln density logDensity [n] of the
 * joint (S[z] = -mean logDensity).
 */
double totalCorrelation(const torch::Tensor& z, const torch::Tensor& logDensity, int bins,
                        std::vector<double>* marginals = nullptr, double* joint = nullptr);

} // namespace VAEPlugin

#endif
