#include "VAEMCIntegratorTestAccess.h"
#include "internal/VAEMCIntegratorMoves.h"

using namespace VAEPlugin;

void VAEMCIntegratorTestAccess::setTermWeights(VAEMCIntegrator& integrator, const std::array<double, kVAEMCNumTerms>& weights) {
    integrator.moves->termWeights = weights;
    if (integrator.moves->chain)
        integrator.moves->chain->setTermWeights(weights);
}

void VAEMCIntegratorTestAccess::setNativeDensities(VAEMCIntegrator& integrator, bool allowed) {
    integrator.moves->nativeAllowed = allowed;
    if (integrator.moves->chain)
        integrator.moves->chain->setNativeDensitiesAllowed(allowed);
}

bool VAEMCIntegratorTestAccess::usesNativeDensities(const VAEMCIntegrator& integrator) {
    return integrator.moves->chain && integrator.moves->chain->usesNativeDensities();
}

void VAEMCIntegratorTestAccess::setNativeMoves(VAEMCIntegrator& integrator, bool allowed) {
    integrator.moves->nativeMovesAllowed = allowed;
    if (integrator.moves->chain)
        integrator.moves->chain->setNativeMovesAllowed(allowed);
}

bool VAEMCIntegratorTestAccess::usesNativeMoves(const VAEMCIntegrator& integrator) {
    return integrator.moves->chain && integrator.moves->chain->usesNativeMoves();
}
