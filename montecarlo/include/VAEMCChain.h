#ifndef OPENMM_VAE_MC_CHAIN_H_
#define OPENMM_VAE_MC_CHAIN_H_

/**
 * One Markov chain of exact VAE-proposed Metropolis moves (science.md section 5) against any energy:
 * the move round that VAEMCIntegrator runs on an OpenMM Context. It owns what the moves of a chain
 * share: the bundle module, the move generator (every random number of the moves), the statistics,
 * the chain's configuration as the moves last saw it, and how proposals are made:
 *  - natively (when VAEMCNativeDensities and NativeFeatureMap cover the bundle): each move draws
 *    z ~ q(z|x), z' ~ P(z), x' ~ P(x|z'), positions, re-featurises and evaluates every term in plain
 *    C++, no TorchScript call per move and nothing drawn ahead;
 *  - else through the bundle's TorchScript methods, proposals and refreshed latents drawn in batches
 *    ahead of use (a batch is drawn on the chain's current positions and placed on later ones).
 * Each move is a full move or, with probability setMoveProbabilities gives it, a torsion move
 * (science.md section 7, "Partial moves": bonds and angles kept, torsions redrawn from the
 * autoregressive decoder's conditional given z' ~ P(z); native only, drawn per move since the
 * proposal depends on the state).
 *
 * Energies are the caller's: a VAEMCTarget sets a proposal, gives its energy, and keeps or restores it.
 * Without LibTorch (OPENMMVAE_WITH_TORCH=OFF) only the native path exists.
 */

#include "VAEMCGenerator.h"
#include "VAEMCStatistics.h"
#include "VAEMCNativeDensities.h"
#include "VAEModelBundle.h"
#include "NativeDecoder.h"
#include "NativeFeatureMap.h"

#ifdef OPENMMVAE_WITH_TORCH
#include "VAEMCProposals.h"
#include <torch/script.h>
#include <torch/torch.h>
#endif

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace VAEPlugin {

/** What the chain throws when a bundle method fails or the state has no features; the integrator names itself before it. */
class VAEMCError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/** The system a chain moves: sets proposals, gives their energies, keeps or undoes them. */
class VAEMCTarget {
public:
    virtual ~VAEMCTarget() = default;
    /**
     * Put the moved atoms at `positions` ([3 n] nm, atom by atom, finite) and return U(x') in kJ/mol (may be
     * non-finite; the move is then rejected). The target holds x' until keep() or restore().
     */
    virtual double proposalEnergy(const std::vector<double>& positions) = 0;
    /** The last proposal is accepted: it is the chain's configuration from now on. */
    virtual void keep() = 0;
    /** The last proposal is rejected: return exactly to the configuration before it. */
    virtual void restore() = 0;
};

class VAEMCChain {
public:
    /**
     * bundle: the model (its native section, or with LibTorch its module); seed: of the move generator;
     * statistics: where the moves are counted (kept by the owner, so they outlive the chain of one
     * Context), one per move kind; allowNative: tests only (false: the bundle's methods).
     */
    VAEMCChain(const VAEModelBundle& bundle, uint64_t seed, std::array<VAEMCStatistics, kVAEMCNumMoveKinds>& statistics,
               bool allowNative = true);
#ifdef OPENMMVAE_WITH_TORCH
    /** A chain of a bundle module in memory (double precision, eval mode; the trainer's f_acc); source names it in messages. */
    VAEMCChain(torch::jit::Module module, const std::string& source, uint64_t seed,
               std::array<VAEMCStatistics, kVAEMCNumMoveKinds>& statistics, bool allowNative = true);
#endif
    ~VAEMCChain();
    /**
     * Runs `moves` moves from the configuration `positions` ([3 n] nm of the bundle's atoms) of
     * energy `energy` (kJ/mol) at inverse temperature `beta` (mol/kJ); on the TorchScript path
     * proposals are drawn `proposalBatchSize` at a time. Returns how many were accepted. Throws VAEMCError when a bundle
     * method fails or the positions lie outside the feature domain (nothing drawn is kept then).
     */
    int64_t attempt(int moves, const std::vector<double>& positions, double energy, double beta, int64_t proposalBatchSize,
                    VAEMCTarget& target);
    /**
     * Probabilities of a full and of a torsion move (non-negative, summing to 1; the caller checks and
     * normalises). Throws VAEMCError saying why when torsion > 0 and whyNoTorsionMoves() is not empty;
     * the probabilities are then unchanged. With one of them 0 a move draws no random number for its kind.
     */
    void setMoveProbabilities(double full, double torsion);
    /** Empty when torsion moves are possible, else why not (the feature kind, the decoder, no native path). */
    std::string whyNoTorsionMoves() const;
    /**
     * bat: proposals put the constrained bonds at these lengths (nm; e.g. the System's constraints),
     * keyed by the bundle's atom positions (smaller first). Every constrained bond of the bundle's tree
     * must be there (VAEMCError naming the row otherwise). Other kinds: nothing to do.
     */
    void setConstrainedBondLengths(const std::map<std::pair<int, int>, double>& lengths);
    /** Forget everything drawn ahead and the remembered configuration (e.g. at a checkpoint). */
    void discardDraws();
    VAEMCGenerator& generator() { return generator_; }
    /** Whether the state-side densities run natively (VAEMCNativeDensities) or through the bundle's methods. */
    bool usesNativeDensities() const { return native_ != nullptr; }
    /** Whether whole moves run natively (see the class comment). */
    bool usesNativeMoves() const { return native_ != nullptr && featureMap_ != nullptr && nativeMovesAllowed_; }
    /** Tests only: switch the native densities off (or back on when the bundle allows them). */
    void setNativeDensitiesAllowed(bool allowed);
    /**
     * Tests only: with false, full moves take their proposals from the bundle's TorchScript methods
     * even where the native path exists (the state-side densities stay native); torsion moves need the
     * native path and are then refused.
     */
    void setNativeMovesAllowed(bool allowed);
    /** Tests only: weights of the terms of ln alpha ({1, 1, 1, 1, 1} is the exact move; see vaeMCLogAlpha). */
    void setTermWeights(const std::array<double, kVAEMCNumTerms>& weights) { termWeights_ = weights; }
private:
    /** The chain's configuration on the native path and what depends on it alone. */
    struct NativeState {
        std::vector<double> positions, features;  // [3 n] nm, [D] unstandardised
        double logJacobian = 0;
        NativeDecoder::Prepared prepared;
        std::vector<double> mu, logvar;           // the encoder's q(z|x)
    };
    void createNative();
    /** Positions [3 n] -> the state's features, ln J, decoder preparation and encoder output (natively). */
    bool fillNativeState(NativeState& s);
    void setNativeState(const std::vector<double>& positions);
    /** One native move of `kind` from nativeState_; returns whether it was accepted. */
    bool nativeMove(VAEMCMoveKind kind, double& energy, double beta, VAEMCTarget& target);
    /** The kind of the next move (a uniform of the move generator only when both kinds are possible). */
    VAEMCMoveKind drawMoveKind();
    void buildNativeMoves();
    void forgetRefresh();
    std::shared_ptr<const NativeModuleTree> tree_;  // the bundle's attributes (null: none readable)
    BundleCheckRecord record_;                      // what the bundle's methods give, for the native self-check
    std::string source_;
    VAEMCGenerator generator_;
    std::array<VAEMCStatistics, kVAEMCNumMoveKinds>& statistics_;
    double torsionProbability_ = 0;
    std::vector<double> constrainedLengths_;  // bat: per row, as set by setConstrainedBondLengths (empty: the bundle's)
    std::array<double, kVAEMCNumTerms> termWeights_ = {1, 1, 1, 1, 1};
    // native state-side densities (null: the bundle's TorchScript methods, batched as below)
    std::unique_ptr<VAEMCNativeDensities> native_;
    // native moves: the feature map (with its inverse), which features are periodic, the first torsion
    std::unique_ptr<NativeFeatureMap> featureMap_;
    std::vector<char> periodic_;
    int firstTorsion_ = -1;            // bat: index of the first torsion feature (-1: not bat)
    bool nativeMovesAllowed_ = true;
    bool haveNativeState_ = false;
    NativeState nativeState_;
#ifdef OPENMMVAE_WITH_TORCH
    // the TorchScript path: the chain's configuration as the moves last saw it, and what was drawn for it
    void setState(const torch::Tensor& positions);
    /** ln q(z|x), ln P(z), ln P(x|z) of a fresh z ~ q(z|x) for the chain's state. */
    void drawStateTerms(int remainingMoves, int64_t proposalBatchSize, double& logQ, double& logPrior, double& logDecoder);
    void drawProposals(int64_t proposalBatchSize);
    int64_t attemptThroughTorchScript(int moves, const torch::Tensor& positions, double energy, double beta,
                                      int64_t proposalBatchSize, VAEMCTarget& target);
    torch::jit::Module module_;
    bool haveState_ = false;
    VAEMCState state_;                 // [1, n, 3] positions, features, ln J
    VAEMCRefresh refresh_;             // refreshed z's of state_, used from nextRefresh_ on
    std::vector<double> refreshQ_, refreshPrior_, refreshDecoder_;  // its terms, read once per batch
    int64_t nextRefresh_ = 0, numRefresh_ = 0;
    int64_t refreshBatch_ = 0;         // rows of the last refresh of state_ (0: none yet)
    bool encoded_ = false;             // native densities: mu, logvar of state_ computed and its features set
    std::vector<double> mu_, logvar_;
    VAEMCProposalBatch proposals_;     // state-independent proposals, used from nextProposal_ on
    torch::Tensor proposalsDrawnOn_;   // [1, n, 3] the reference they were built on
    std::vector<double> proposalQ_, proposalPrior_, proposalDecoder_, proposalLogJacobian_;  // read once per batch
    std::vector<char> proposalAdmissible_;
    int64_t nextProposal_ = 0, numProposals_ = 0;
#endif
};

} // namespace VAEPlugin

#endif
