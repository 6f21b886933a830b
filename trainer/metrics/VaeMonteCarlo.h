#ifndef OPENMM_VAE_TRAINER_VAE_MONTE_CARLO_H_
#define OPENMM_VAE_TRAINER_VAE_MONTE_CARLO_H_

/**
 * The exact VAE-proposed Metropolis Monte Carlo move of science.md section 5.
 *
 * vaeMcLogAlpha() is THE implementation of the acceptance rule: every user (the chain runner below,
 * an integrator) passes the terms of ln alpha as plain tensors and gets the sum in double, the
 * per-term values and which proposals are admissible (finite). acceptMoves() turns that into
 * accept/reject decisions.
 */

#include "Systems.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>

namespace VAEPlugin {

/** Per-move inputs of ln alpha; every tensor is [B] (any floating dtype; converted to double). */
struct VaeMcTerms {
    torch::Tensor energyCurrent, energyProposal;        ///< U(x), U(x') in kT (beta applied separately)
    torch::Tensor logQCurrent, logQProposal;            ///< ln q(z|x), ln q(z'|x')
    torch::Tensor logPriorCurrent, logPriorProposal;    ///< ln P(z), ln P(z')
    torch::Tensor logDecoderCurrent, logDecoderProposal;///< ln P(x|z), ln P(x'|z')
    torch::Tensor logJacobianCurrent, logJacobianProposal; ///< ln J(x), ln J(x')
};

/** Names of the terms of ln alpha, in the order of VaeMcLogAlpha::terms. */
constexpr int kVaeMcNumTerms = 5;
const std::array<std::string, kVaeMcNumTerms>& vaeMcTermNames();  // energy, encoder, prior, decoder, jacobian

/** The result of vaeMcLogAlpha; all tensors [B] double. */
struct VaeMcLogAlpha {
    /**
     * terms[0] = -beta [U(x') - U(x)], terms[1] = ln q(z'|x') - ln q(z|x), terms[2] = ln P(z) - ln P(z'),
     * terms[3] = ln P(x|z) - ln P(x'|z'), terms[4] = ln J(x') - ln J(x).
     */
    std::array<torch::Tensor, kVaeMcNumTerms> terms;
    torch::Tensor total;  ///< sum of the (weighted) terms, double
    torch::Tensor valid;  ///< bool: every proposal input finite and total not NaN; invalid moves are rejected
};

/**
 * ln alpha of a batch of moves, summed in double. `termWeights` multiplies each term before the sum:
 * {1, 1, 1, 1, 1} is the exact move; any other value exists only so tests can show that a wrong rule
 * is detected (never use it otherwise). A proposal with any non-finite proposal-side input
 * (energy, ln q, ln P(z'), ln P(x'|z'), ln J) or a NaN sum is marked invalid.
 */
VaeMcLogAlpha vaeMcLogAlpha(const VaeMcTerms& t, double beta = 1.0,
                            const std::array<double, kVaeMcNumTerms>& termWeights = {1, 1, 1, 1, 1});

/** Scalar convenience form of vaeMcLogAlpha (same implementation); returns total, NaN-free: -inf when invalid. */
double vaeMcLogAlpha(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                     double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                     double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal,
                     double beta = 1.0, std::array<double, kVaeMcNumTerms>* terms = nullptr);

/** Accept where valid and ln(u) < total (u uniform in (0,1), [B]); returns bool [B]. */
torch::Tensor acceptMoves(const VaeMcLogAlpha& a, const torch::Tensor& uniform);

struct VaeMcOptions {
    int64_t moves = 1000;             ///< moves per chain
    uint64_t seed = 1;                ///< seeds the runner's generator and torch::manual_seed (von Mises draws)
    double beta = 1.0;                ///< inverse temperature (the built-in energies are in kT)
    int64_t sampleEvery = 0;          ///< keep the state of every chain every this many moves (0: none)
    std::array<double, kVaeMcNumTerms> termWeights = {1, 1, 1, 1, 1};  ///< tests only (see vaeMcLogAlpha)
};

struct VaeMcTermStats {
    double mean = 0, std = 0;  ///< over attempted moves where the term is finite
    int64_t finite = 0;        ///< how many attempted moves had this term finite
};

struct VaeMcResult {
    double fAcc = 0;                  ///< accepted / attempted
    int64_t attempted = 0, accepted = 0, rejectedNonFinite = 0;
    torch::Tensor finalFeatures;      ///< [N, D] double, raw features
    torch::Tensor samples;            ///< [K, N, D] kept states (K = moves / sampleEvery), or undefined
    std::array<VaeMcTermStats, kVaeMcNumTerms> terms;
    VaeMcTermStats total;             ///< statistics of ln alpha itself
};

/**
 * Runs N = start.size(0) parallel VAE-MC chains of options.moves moves on a built-in system, started
 * from `start` ([N, D] raw features of the bundle's kind). Positions are obtained with the bundle's
 * positions_from_features and re-featurised with featurize (which gives ln J); a proposal whose
 * features do not survive this round trip (e.g. a negative radius) lies outside the feature domain
 * and is rejected, like any non-finite proposal. Energies: System2D::energy of (x, y).
 * Throws std::invalid_argument for a start set that does not match the bundle (empty, wrong D, NaN).
 */
VaeMcResult runVaeMc(torch::jit::Module& bundle, const System2D& system, const torch::Tensor& start,
                     const VaeMcOptions& options = {});

} // namespace VAEPlugin

#endif
