#ifndef OPENMM_VAE_MC_INTEGRATOR_TEST_ACCESS_H_
#define OPENMM_VAE_MC_INTEGRATOR_TEST_ACCESS_H_

#include "VAEMCIntegrator.h"
#include "VAEMCAcceptance.h"
#include <array>

namespace VAEPlugin {

/**
 * Test-only hook into VAEMCIntegrator (compiled into the tests only, never installed): weights
 * on the terms of ln alpha, so a test can show that its statistical check detects a wrong rule
 * (see vaeMCLogAlpha). {1, 1, 1, 1, 1} is the exact move and the only value for real use. And the
 * choice between the native and the TorchScript state-side densities, so both can be compared.
 */
class VAEMCIntegratorTestAccess {
public:
    static void setTermWeights(VAEMCIntegrator& integrator, const std::array<double, kVAEMCNumTerms>& weights);
    /** Whether the state-side densities may be evaluated natively (VAEMCNativeDensities; default true). */
    static void setNativeDensities(VAEMCIntegrator& integrator, bool allowed);
    /** Whether the moves of the bound Context evaluate them natively. */
    static bool usesNativeDensities(const VAEMCIntegrator& integrator);
    /** Whether whole moves may run natively (default true; false: TorchScript proposals, full moves only). */
    static void setNativeMoves(VAEMCIntegrator& integrator, bool allowed);
    /** Whether the moves of the bound Context run natively. */
    static bool usesNativeMoves(const VAEMCIntegrator& integrator);
};

} // namespace VAEPlugin

#endif
