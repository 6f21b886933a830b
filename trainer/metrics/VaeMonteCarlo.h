#ifndef OPENMM_VAE_TRAINER_VAE_MONTE_CARLO_H_
#define OPENMM_VAE_TRAINER_VAE_MONTE_CARLO_H_

/**
 * Chains of the exact VAE-proposed Metropolis Monte Carlo move of science.md section 5 on the built-in
 * 2-D systems (f_acc of `openmm-vae metrics`).
 *
 * The move itself (proposal, every term of ln alpha, the acceptance rule, statistics) lives in the
 * Monte Carlo library OpenMMVAEMonteCarlo (montecarlo/: VAEMCProposals.h, VAEMCAcceptance.h), which the
 * VAEMCIntegrator uses too; this file only adds the System2D energies and the chain bookkeeping.
 */

#include "Systems.h"
#include "VAEMCChain.h"
#include "VAEMCProposals.h"
#include "VAEMCStatistics.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>

namespace VAEPlugin {

struct VAEMCOptions {
    int64_t moves = 1000;             ///< moves per chain
    uint64_t seed = 1;                ///< seeds the runner's generator (every random number of the run)
    double beta = 1.0;                ///< inverse temperature (the built-in energies are in kT)
    int64_t sampleEvery = 0;          ///< keep the state of every chain every this many moves (0: none)
    std::array<double, kVAEMCNumTerms> termWeights = {1, 1, 1, 1, 1};  ///< tests only (see vaeMCLogAlpha)
    bool nativeMoves = true;          ///< tests only: false runs the bundle's methods even where native moves exist
};

struct VAEMCResult {
    double fAcc = 0;                  ///< accepted / attempted
    int64_t attempted = 0, accepted = 0, rejectedNonFinite = 0;
    torch::Tensor finalFeatures;      ///< [N, D] double, raw features
    torch::Tensor samples;            ///< [K, N, D] kept states (K = moves / sampleEvery), or undefined
    std::array<VAEMCTermStats, kVAEMCNumTerms> terms;
    VAEMCTermStats total;             ///< statistics of ln alpha itself
    bool native = false;              ///< whether the moves ran natively (VAEMCChain) or through the bundle's methods
};

/**
 * Runs N = start.size(0) VAE-MC chains of options.moves moves on a built-in system, started from
 * `start` ([N, D] raw features of the bundle's kind). Where the bundle allows native moves they run
 * as the VAEMCIntegrator's do (VAEMCChain, one chain after the other, one generator); otherwise the N
 * chains run in parallel through the bundle's methods. Positions are obtained with the bundle's
 * positions_from_features and re-featurised with featurize (which gives ln J); a proposal whose
 * features do not survive this round trip (e.g. a negative radius) lies outside the feature domain
 * and is rejected, like any non-finite proposal. Energies: System2D::energy of (x, y).
 * Throws std::invalid_argument for a start set that does not match the bundle (empty, wrong D, NaN).
 */
VAEMCResult runVAEMC(torch::jit::Module& bundle, const System2D& system, const torch::Tensor& start,
                     const VAEMCOptions& options = {});

} // namespace VAEPlugin

#endif
