#ifndef OPENMM_VAE_MC_STATISTICS_H_
#define OPENMM_VAE_MC_STATISTICS_H_

/** Acceptance counts and per-term diagnostics of VAE moves (what VAEMCIntegrator reports and checkpoints). */

#include "VAEMCAcceptance.h"

#include <array>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

namespace VAEPlugin {

/**
 * The kinds of VAE move a chain chooses between (science.md section 7, "Partial moves"), counted
 * apart: a full move redraws every feature; a torsion move keeps bonds and angles and redraws the
 * torsions from the autoregressive conditional.
 */
enum class VAEMCMoveKind : int { Full = 0, Torsion = 1 };
constexpr int kVAEMCNumMoveKinds = 2;
/** Names of the move kinds, in VAEMCMoveKind order: full, torsion. */
const std::array<std::string, kVAEMCNumMoveKinds>& vaeMCMoveKindNames();

/** Mean and standard deviation of one term over the attempted moves where it was finite. */
struct VAEMCTermStats {
    double mean = 0, std = 0;
    int64_t finite = 0;  ///< how many attempted moves had this term finite
};

/** Running acceptance counts and per-term diagnostics of VAE-MC moves. */
class VAEMCStatistics {
public:
#ifdef OPENMMVAE_WITH_TORCH
    /** Record a batch of attempted moves and which were accepted. */
    void add(const VAEMCLogAlpha& a, const torch::Tensor& accepted);
#endif
    /** Record one attempted move. */
    void add(const VAEMCLogAlphaValue& a, bool accepted);
    int64_t attempted() const { return attempted_; }
    int64_t accepted() const { return accepted_; }
    int64_t rejectedNonFinite() const { return rejectedNonFinite_; }
    VAEMCTermStats term(int k) const;  ///< k in [0, kVAEMCNumTerms)
    VAEMCTermStats total() const;      ///< of ln alpha itself
    void reset() { *this = VAEMCStatistics(); }
    /** Adds the moves counted by `other` (e.g. the statistics of every move kind into one). */
    VAEMCStatistics& operator+=(const VAEMCStatistics& other);
    /** Every count and sum as bytes, for Context checkpoints (same build and machine, as OpenMM's own). */
    void write(std::ostream& stream) const;
    /** What write() wrote; false (and unchanged) if the stream ends first. */
    bool read(std::istream& stream);
private:
    struct Sums {
        double sum = 0, sumSq = 0;
        int64_t finite = 0;
        void add(double value);
        void add(const Sums& other);
        VAEMCTermStats stats() const;
    };
    int64_t attempted_ = 0, accepted_ = 0, rejectedNonFinite_ = 0;
    std::array<Sums, kVAEMCNumTerms> terms_;
    Sums total_;
};

} // namespace VAEPlugin

#endif
