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
    VAEMCStatistics statistics;       // outlives the chain of one Context
    std::array<double, kVAEMCNumTerms> termWeights = {1, 1, 1, 1, 1};  // tests only
    bool nativeAllowed = true;        // tests only
    long long stepsSinceMoves = 0;
    bool hasVirtualSites = false;
    std::unique_ptr<VAEMCChain> chain;
};

} // namespace VAEPlugin

#endif
