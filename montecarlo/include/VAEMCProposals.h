#ifndef OPENMM_VAE_MC_PROPOSALS_H_
#define OPENMM_VAE_MC_PROPOSALS_H_

/**
 * The proposal side of a VAE move (science.md section 5) through the bundle's TorchScript methods:
 * the state (features and ln J of positions), the refreshed z ~ q(z|x) with its densities, proposals
 * drawn in batches independently of the chain's state and placed on its current positions, and the
 * one-call proposeVAEMCMove. All tensors are batched: B independent configurations move at once.
 */

#include "VAEMCAcceptance.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>

namespace VAEPlugin {

/** A batch of configurations as the move sees them. */
struct VAEMCState {
    torch::Tensor positions;    ///< [B, n, 3] double: the bundle's atoms
    torch::Tensor features;     ///< [B, D] double: featurize(positions)
    torch::Tensor logJacobian;  ///< [B] double: ln J of the map positions -> features
};

/** The features and ln J of positions [B, n, 3] (the bundle's featurize, in double). */
VAEMCState vaeMCState(torch::jit::Module& bundle, const torch::Tensor& positions);

/** A drawn proposal x' and every log-density term of ln alpha except the energies. */
struct VAEMCProposal {
    VAEMCState state;  ///< x': positions (current positions as reference), re-featurised features, ln J(x')
    torch::Tensor logQCurrent, logQProposal, logPriorCurrent, logPriorProposal, logDecoderCurrent,
        logDecoderProposal;  ///< [B] double
    /**
     * [B] bool: the decoder's sample x' is finite and survives the round trip features -> positions ->
     * features (to 1e-8 relative; periodic features modulo 2 pi). A proposal outside the feature domain
     * (e.g. a negative radius) has no configuration and is rejected.
     */
    torch::Tensor admissible;
};

/**
 * The state-side half of a move: for each row of `features` [B, D] (configurations x; a row may be
 * repeated to draw several independent z for one x) draws z ~ q(z|x) and evaluates ln q(z|x),
 * ln P(z) and ln P(x|z), each [B] double. Draws only z (B x L normals) from `generator`.
 */
struct VAEMCRefresh {
    torch::Tensor logQCurrent, logPriorCurrent, logDecoderCurrent;
};
VAEMCRefresh refreshVAEMCLatents(torch::jit::Module& bundle, const torch::Tensor& features, at::Generator& generator);

/**
 * The proposal-side half of a move, independent of the chain state: one proposal per row of
 * `reference` [B, n, 3] (z' ~ P(z), x' ~ P(x|z'), positions_from_features(x', reference), re-featurised;
 * the reference only supplies what the features leave free: the external position and orientation
 * for bat, the unused coordinates for xy/polar). Proposals can therefore be drawn in batches and
 * consumed later, after the chain has moved, once placed on the chain's current positions with
 * placeVAEMCProposal(). The returned proposal has logQCurrent, logPriorCurrent, logDecoderCurrent
 * undefined (refreshVAEMCLatents gives them); `decoded` is the decoder's x' [B, D].
 */
struct VAEMCProposalBatch {
    VAEMCState state;
    torch::Tensor decoded, logQProposal, logPriorProposal, logDecoderProposal, admissible;
};
VAEMCProposalBatch drawVAEMCProposals(torch::jit::Module& bundle, const torch::Tensor& reference, at::Generator& generator);

/**
 * Positions [1, n, 3] of proposal `row` of `batch` (drawn on `drawnOn` [1, n, 3]) with the degrees of
 * freedom the features leave free taken from `current` [1, n, 3]. Unchanged when `current` equals
 * `drawnOn`. For bat the external position and orientation is the frame of the three root atoms
 * (origin at root 0, first axis to root 1, second in the plane of root 2), exactly as the bundle's
 * positions_from_features builds it, so placing is a rigid motion (the internal coordinates, hence
 * every proposal-side term, are unchanged up to rounding) and costs no TorchScript call; for other
 * kinds it is positions_from_features(x', current).
 */
torch::Tensor placeVAEMCProposal(torch::jit::Module& bundle, const VAEMCProposalBatch& batch, int64_t row,
                                 const torch::Tensor& drawnOn, const torch::Tensor& current);

/**
 * Draws one proposal per configuration of `current` (refreshVAEMCLatents then drawVAEMCProposals on
 * the current positions, in this order of random numbers): z ~ q(z|x), z' = prior_sample(eps), x' ~ P(x|z'),
 * positions_from_features(x', current.positions), featurize. The log densities of the proposal side
 * are evaluated at the re-featurised x' (the features the next move will start from). Every random
 * number comes from `generator`; the decoder's von Mises draws (which use LibTorch's default
 * generator) run with the default generator seeded from `generator` and its state restored afterwards,
 * so a run depends on `generator` only. Runs without autograd.
 */
VAEMCProposal proposeVAEMCMove(torch::jit::Module& bundle, const VAEMCState& current, at::Generator& generator);

/** ln alpha of proposals given the energies (U(x), U(x') [B]); invalid also where !p.admissible. */
VAEMCLogAlpha vaeMCLogAlpha(const VAEMCState& current, const VAEMCProposal& p, const torch::Tensor& energyCurrent,
                            const torch::Tensor& energyProposal, double beta = 1.0,
                            const std::array<double, kVAEMCNumTerms>& termWeights = {1, 1, 1, 1, 1});

} // namespace VAEPlugin

#endif
