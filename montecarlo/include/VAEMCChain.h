#ifndef OPENMM_VAE_MC_CHAIN_H_
#define OPENMM_VAE_MC_CHAIN_H_

/**
 * One Markov chain of exact VAE-proposed Metropolis moves (science.md section 5) against any energy:
 * the move round that VAEMCIntegrator runs on an OpenMM Context. It owns what the moves of a chain
 * share: the bundle module, the move generator (every random number of the moves), the statistics,
 * the chain's configuration as the moves last saw it, and the proposals and refreshed latents drawn
 * in batches ahead of use (a batch is drawn on the chain's current positions and placed on later
 * ones, science.md section 5).
 *
 * Energies are the caller's: a VAEMCTarget sets a proposal, gives its energy, and keeps or restores it.
 */

#include "VAEMCProposals.h"
#include "VAEMCStatistics.h"
#include "VAEMCNativeDensities.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>
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
     * Put the moved atoms at `positions` ([1, n, 3] nm, finite) and return U(x') in kJ/mol (may be
     * non-finite; the move is then rejected). The target holds x' until keep() or restore().
     */
    virtual double proposalEnergy(const torch::Tensor& positions) = 0;
    /** The last proposal is accepted: it is the chain's configuration from now on. */
    virtual void keep() = 0;
    /** The last proposal is rejected: return exactly to the configuration before it. */
    virtual void restore() = 0;
};

class VAEMCChain {
public:
    /**
     * module: a bundle module (double precision, eval mode) of this chain alone; source names it in
     * messages; seed: of the move generator; statistics: where the moves are counted (kept by the
     * owner, so they outlive the chain of one Context); allowNative: tests only (false: the bundle's methods).
     */
    VAEMCChain(torch::jit::Module module, const std::string& source, uint64_t seed, VAEMCStatistics& statistics,
               bool allowNative = true);
    /**
     * Runs `moves` moves from the configuration `positions` ([1, n, 3] nm of the bundle's atoms) of
     * energy `energy` (kJ/mol) at inverse temperature `beta` (mol/kJ); proposals are drawn
     * `proposalBatchSize` at a time. Returns how many were accepted. Throws VAEMCError when a bundle
     * method fails or the positions lie outside the feature domain (nothing drawn is kept then).
     */
    int64_t attempt(int moves, const torch::Tensor& positions, double energy, double beta, int64_t proposalBatchSize, VAEMCTarget& target);
    /** Forget everything drawn ahead and the remembered configuration (e.g. at a checkpoint). */
    void discardDraws();
    at::Generator& generator() { return generator_; }
    /** Whether the state-side densities run natively (VAEMCNativeDensities) or through the bundle's methods. */
    bool usesNativeDensities() const { return native_ != nullptr; }
    /** Tests only: switch the native densities off (or back on when the bundle allows them). */
    void setNativeDensitiesAllowed(bool allowed);
    /** Tests only: weights of the terms of ln alpha ({1, 1, 1, 1, 1} is the exact move; see vaeMCLogAlpha). */
    void setTermWeights(const std::array<double, kVAEMCNumTerms>& weights) { termWeights_ = weights; }
private:
    void setState(const torch::Tensor& positions);
    void forgetRefresh();
    /** ln q(z|x), ln P(z), ln P(x|z) of a fresh z ~ q(z|x) for the chain's state. */
    void drawStateTerms(int remainingMoves, int64_t proposalBatchSize, double& logQ, double& logPrior, double& logDecoder);
    void drawProposals(int64_t proposalBatchSize);
    torch::jit::Module module_;
    std::string source_;
    at::Generator generator_;
    VAEMCStatistics& statistics_;
    std::array<double, kVAEMCNumTerms> termWeights_ = {1, 1, 1, 1, 1};
    // the chain's configuration as the moves last saw it, and what was drawn for it
    bool haveState_ = false;
    VAEMCState state_;                 // [1, n, 3] positions, features, ln J
    VAEMCRefresh refresh_;             // refreshed z's of state_, used from nextRefresh_ on
    std::vector<double> refreshQ_, refreshPrior_, refreshDecoder_;  // its terms, read once per batch
    int64_t nextRefresh_ = 0, numRefresh_ = 0;
    int64_t refreshBatch_ = 0;         // rows of the last refresh of state_ (0: none yet)
    // native state-side densities (null: the bundle's TorchScript methods, batched as above)
    std::unique_ptr<VAEMCNativeDensities> native_;
    bool encoded_ = false;             // native: mu, logvar of state_ computed and its features set
    std::vector<double> mu_, logvar_;
    VAEMCProposalBatch proposals_;     // state-independent proposals, used from nextProposal_ on
    torch::Tensor proposalsDrawnOn_;   // [1, n, 3] the reference they were built on
    std::vector<double> proposalQ_, proposalPrior_, proposalDecoder_, proposalLogJacobian_;  // read once per batch
    std::vector<char> proposalAdmissible_;
    int64_t nextProposal_ = 0, numProposals_ = 0;
};

} // namespace VAEPlugin

#endif
