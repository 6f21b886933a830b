#ifndef OPENMM_VAE_MC_INTEGRATOR_MOVES_H_
#define OPENMM_VAE_MC_INTEGRATOR_MOVES_H_

#include "VAEMCChain.h"
#include "VAEMCIntegrator.h"
#include "VAEModelBundle.h"
#include <array>
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

/** What VAEMCIntegrator keeps of its moves besides plain parameters; the chain exists while a Context is bound. */
class VAEMCIntegrator::Moves {
public:
    std::shared_ptr<VAEModelBundle> bundle;
    std::string kind;                 // feature kind name (getFeatureKind)
    std::vector<int> atoms;
    int seed = 0;
    std::array<VAEMCStatistics, kVAEMCNumMoveKinds> statistics;  // per move kind; outlive the chain of one Context
    double fullProbability = 1, torsionProbability = 0;  // normalised
    /** The statistics of every move kind together. */
    VAEMCStatistics total() const {
        VAEMCStatistics t;
        for (const VAEMCStatistics& s : statistics) t += s;
        return t;
    }
    std::array<double, kVAEMCNumTerms> termWeights = {1, 1, 1, 1, 1};  // tests only
    bool nativeAllowed = true;        // tests only
    bool nativeMovesAllowed = true;   // tests only
    long long stepsSinceMoves = 0;
    bool hasVirtualSites = false;
    std::unique_ptr<VAEMCChain> chain;
};

} // namespace VAEPlugin

#endif
