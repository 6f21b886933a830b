#ifndef OPENMM_VAE_MC_ACCEPTANCE_H_
#define OPENMM_VAE_MC_ACCEPTANCE_H_

/**
 * The acceptance rule of the exact VAE-proposed Metropolis move (science.md section 5), written once:
 * the terms of ln alpha, their sum in double, validity (a non-finite proposal is never accepted) and
 * the accept/reject decision, for one move or a batch. Used by VAEMCChain (VAEMCIntegrator) and by
 * the trainer's f_acc.
 */

#ifdef OPENMMVAE_WITH_TORCH
#include <torch/torch.h>
#endif

#include <array>
#include <string>

namespace VAEPlugin {

/** Names of the terms of ln alpha, in the order of VAEMCLogAlpha::terms. */
constexpr int kVAEMCNumTerms = 5;
const std::array<std::string, kVAEMCNumTerms>& vaeMCTermNames();  // energy, encoder, prior, decoder, jacobian

#ifdef OPENMMVAE_WITH_TORCH
/** Per-move inputs of ln alpha; every tensor is [B] (any floating dtype; converted to double). */
struct VAEMCTerms {
    torch::Tensor energyCurrent, energyProposal;        ///< U(x), U(x') (multiplied by beta in vaeMCLogAlpha)
    torch::Tensor logQCurrent, logQProposal;            ///< ln q(z|x), ln q(z'|x')
    torch::Tensor logPriorCurrent, logPriorProposal;    ///< ln P(z), ln P(z')
    torch::Tensor logDecoderCurrent, logDecoderProposal;///< ln P(x|z), ln P(x'|z')
    torch::Tensor logJacobianCurrent, logJacobianProposal; ///< ln J(x), ln J(x')
};

/** The result of vaeMCLogAlpha; all tensors [B] double. */
struct VAEMCLogAlpha {
    /**
     * terms[0] = -beta [U(x') - U(x)], terms[1] = ln q(z'|x') - ln q(z|x), terms[2] = ln P(z) - ln P(z'),
     * terms[3] = ln P(x|z) - ln P(x'|z'), terms[4] = ln J(x') - ln J(x).
     */
    std::array<torch::Tensor, kVAEMCNumTerms> terms;
    torch::Tensor total;  ///< sum of the (weighted) terms, double
    torch::Tensor valid;  ///< bool: every proposal input finite and total not NaN; invalid moves are rejected
};

/**
 * ln alpha of a batch of moves, summed in double. `termWeights` multiplies each term before the sum:
 * {1, 1, 1, 1, 1} is the exact move; any other value exists only so tests can show that a wrong rule
 * is detected (never use it otherwise). A proposal with any non-finite proposal-side input
 * (energy, ln q, ln P(z'), ln P(x'|z'), ln J) or a NaN sum is marked invalid.
 */
VAEMCLogAlpha vaeMCLogAlpha(const VAEMCTerms& t, double beta = 1.0,
                            const std::array<double, kVAEMCNumTerms>& termWeights = {1, 1, 1, 1, 1});
#endif

/** ln alpha of one move: the terms, their weighted sum and whether the move may be accepted. */
struct VAEMCLogAlphaValue {
    std::array<double, kVAEMCNumTerms> terms;
    double total;
    bool valid;
};

/**
 * The acceptance rule itself, for one move (the batched vaeMCLogAlpha applies it row by row): terms
 * as in VAEMCLogAlpha::terms, their weighted sum, and valid unless a proposal-side input is not
 * finite or the sum is NaN.
 */
VAEMCLogAlphaValue vaeMCLogAlphaValue(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                                      double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                                      double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal,
                                      double beta = 1.0,
                                      const std::array<double, kVAEMCNumTerms>& termWeights = {1, 1, 1, 1, 1});

/** Scalar convenience form of vaeMCLogAlphaValue; returns total, NaN-free: -inf when invalid. */
double vaeMCLogAlpha(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                     double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                     double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal,
                     double beta = 1.0, std::array<double, kVAEMCNumTerms>* terms = nullptr);

#ifdef OPENMMVAE_WITH_TORCH
/** Accept where valid and ln(u) < total (u uniform in (0,1), [B]); returns bool [B]. */
torch::Tensor acceptMoves(const VAEMCLogAlpha& a, const torch::Tensor& uniform);
#endif

} // namespace VAEPlugin

#endif
