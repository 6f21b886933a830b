#ifndef OPENMM_VAE_MONTE_CARLO_MOVE_H_
#define OPENMM_VAE_MONTE_CARLO_MOVE_H_

/**
 * The exact VAE-proposed Metropolis Monte Carlo move of science.md section 5, written once and used
 * by both the trainer (runVaeMc, `openmm-vae metrics`) and the plugin (VAEMCIntegrator). LibTorch
 * only: no OpenMM, no trainer. Energies are the caller's business (a System2D for the trainer, the
 * Context for the integrator); everything else of a move is here:
 *
 *   vaeMcState()        positions -> features and ln J (the bundle's featurize)
 *   proposeVaeMcMove()  refresh z ~ q(z|x), z' ~ P(z), x' ~ P(x|z'), positions of x' (the current
 *                       positions as reference), re-featurisation (ln J(x'), round-trip domain check)
 *                       and every log-density term of ln alpha
 *   vaeMcLogAlpha()     the acceptance rule, summed in double, non-finite proposals invalid
 *   acceptMoves()       accept/reject decisions
 *   VaeMcStatistics     acceptance counts and per-term diagnostics
 *
 * All tensors are batched: B independent configurations move at once (B = 1 inside an integrator).
 */

#include <torch/script.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

namespace VAEPlugin {

/** Per-move inputs of ln alpha; every tensor is [B] (any floating dtype; converted to double). */
struct VaeMcTerms {
    torch::Tensor energyCurrent, energyProposal;        ///< U(x), U(x') (multiplied by beta in vaeMcLogAlpha)
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

/** ln alpha of one move: the terms, their weighted sum and whether the move may be accepted. */
struct VaeMcLogAlphaValue {
    std::array<double, kVaeMcNumTerms> terms;
    double total;
    bool valid;
};

/**
 * The acceptance rule itself, for one move (the batched vaeMcLogAlpha applies it row by row): terms
 * as in VaeMcLogAlpha::terms, their weighted sum, and valid unless a proposal-side input is not
 * finite or the sum is NaN.
 */
VaeMcLogAlphaValue vaeMcLogAlphaValue(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                                      double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                                      double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal,
                                      double beta = 1.0,
                                      const std::array<double, kVaeMcNumTerms>& termWeights = {1, 1, 1, 1, 1});

/** Scalar convenience form of vaeMcLogAlphaValue; returns total, NaN-free: -inf when invalid. */
double vaeMcLogAlpha(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                     double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                     double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal,
                     double beta = 1.0, std::array<double, kVaeMcNumTerms>* terms = nullptr);

/** Accept where valid and ln(u) < total (u uniform in (0,1), [B]); returns bool [B]. */
torch::Tensor acceptMoves(const VaeMcLogAlpha& a, const torch::Tensor& uniform);

/** A batch of configurations as the move sees them. */
struct VaeMcState {
    torch::Tensor positions;    ///< [B, n, 3] double: the bundle's atoms
    torch::Tensor features;     ///< [B, D] double: featurize(positions)
    torch::Tensor logJacobian;  ///< [B] double: ln J of the map positions -> features
};

/** The features and ln J of positions [B, n, 3] (the bundle's featurize, in double). */
VaeMcState vaeMcState(torch::jit::Module& bundle, const torch::Tensor& positions);

/** A drawn proposal x' and every log-density term of ln alpha except the energies. */
struct VaeMcProposal {
    VaeMcState state;  ///< x': positions (current positions as reference), re-featurised features, ln J(x')
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
struct VaeMcRefresh {
    torch::Tensor logQCurrent, logPriorCurrent, logDecoderCurrent;
};
VaeMcRefresh refreshVaeMcLatents(torch::jit::Module& bundle, const torch::Tensor& features, at::Generator& generator);

/**
 * The proposal-side half of a move, independent of the chain state: one proposal per row of
 * `reference` [B, n, 3] (z' ~ P(z), x' ~ P(x|z'), positions_from_features(x', reference), re-featurised;
 * the reference only supplies what the features leave free: the external position and orientation
 * for bat, the unused coordinates for xy/polar). Proposals can therefore be drawn in batches and
 * consumed later, after the chain has moved, once placed on the chain's current positions with
 * placeVaeMcProposal(). The returned proposal has logQCurrent, logPriorCurrent, logDecoderCurrent
 * undefined (refreshVaeMcLatents gives them); `decoded` is the decoder's x' [B, D].
 */
struct VaeMcProposalBatch {
    VaeMcState state;
    torch::Tensor decoded, logQProposal, logPriorProposal, logDecoderProposal, admissible;
};
VaeMcProposalBatch drawVaeMcProposals(torch::jit::Module& bundle, const torch::Tensor& reference, at::Generator& generator);

/**
 * Positions [1, n, 3] of proposal `row` of `batch` (drawn on `drawnOn` [1, n, 3]) with the degrees of
 * freedom the features leave free taken from `current` [1, n, 3]. Unchanged when `current` equals
 * `drawnOn`. For bat the external position and orientation is the frame of the three root atoms
 * (origin at root 0, first axis to root 1, second in the plane of root 2), exactly as the bundle's
 * positions_from_features builds it, so placing is a rigid motion (the internal coordinates, hence
 * every proposal-side term, are unchanged up to rounding) and costs no TorchScript call; for other
 * kinds it is positions_from_features(x', current).
 */
torch::Tensor placeVaeMcProposal(torch::jit::Module& bundle, const VaeMcProposalBatch& batch, int64_t row,
                                 const torch::Tensor& drawnOn, const torch::Tensor& current);

/**
 * Draws one proposal per configuration of `current` (refreshVaeMcLatents then drawVaeMcProposals on
 * the current positions, in this order of random numbers): z ~ q(z|x), z' = prior_sample(eps), x' ~ P(x|z'),
 * positions_from_features(x', current.positions), featurize. The log densities of the proposal side
 * are evaluated at the re-featurised x' (the features the next move will start from). Every random
 * number comes from `generator`; the decoder's von Mises draws (which use LibTorch's default
 * generator) run with the default generator seeded from `generator` and its state restored afterwards,
 * so a run depends on `generator` only. Runs without autograd.
 */
VaeMcProposal proposeVaeMcMove(torch::jit::Module& bundle, const VaeMcState& current, at::Generator& generator);

/** ln alpha of proposals given the energies (U(x), U(x') [B]); invalid also where !p.admissible. */
VaeMcLogAlpha vaeMcLogAlpha(const VaeMcState& current, const VaeMcProposal& p, const torch::Tensor& energyCurrent,
                            const torch::Tensor& energyProposal, double beta = 1.0,
                            const std::array<double, kVaeMcNumTerms>& termWeights = {1, 1, 1, 1, 1});

/** Mean and standard deviation of one term over the attempted moves where it was finite. */
struct VaeMcTermStats {
    double mean = 0, std = 0;
    int64_t finite = 0;  ///< how many attempted moves had this term finite
};

/** Running acceptance counts and per-term diagnostics of VAE-MC moves. */
class VaeMcStatistics {
public:
    /** Record a batch of attempted moves and which were accepted. */
    void add(const VaeMcLogAlpha& a, const torch::Tensor& accepted);
    /** Record one attempted move. */
    void add(const VaeMcLogAlphaValue& a, bool accepted);
    int64_t attempted() const { return attempted_; }
    int64_t accepted() const { return accepted_; }
    int64_t rejectedNonFinite() const { return rejectedNonFinite_; }
    VaeMcTermStats term(int k) const;  ///< k in [0, kVaeMcNumTerms)
    VaeMcTermStats total() const;      ///< of ln alpha itself
    void reset() { *this = VaeMcStatistics(); }
    /** Every count and sum as bytes, for Context checkpoints (same build and machine, as OpenMM's own). */
    void write(std::ostream& stream) const;
    /** What write() wrote; false (and unchanged) if the stream ends first. */
    bool read(std::istream& stream);
private:
    struct Sums {
        double sum = 0, sumSq = 0;
        int64_t finite = 0;
        void add(double value);
        VaeMcTermStats stats() const;
    };
    int64_t attempted_ = 0, accepted_ = 0, rejectedNonFinite_ = 0;
    std::array<Sums, kVaeMcNumTerms> terms_;
    Sums total_;
};

} // namespace VAEPlugin

#endif
