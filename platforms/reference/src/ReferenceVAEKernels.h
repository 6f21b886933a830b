#ifndef REFERENCE_VAE_KERNELS_H_
#define REFERENCE_VAE_KERNELS_H_

#include "VAEKernels.h"
#include "CVEvaluator.h"
#include "internal/LatentBias.h"
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * VAECVForce on the Reference and CPU platforms (both keep positions and forces in the
 * ReferencePlatform's data). The CV is evaluated natively (Eigen) when the bundle's architecture
 * is supported, else by the TorchScript model with autograd in double precision; the
 * "Implementation" and "Precision" properties of the force choose.
 */
class ReferenceCalcVAECVForceKernel : public CalcVAECVForceKernel {
public:
    ReferenceCalcVAECVForceKernel(std::string name, const OpenMM::Platform& platform) : CalcVAECVForceKernel(name, platform) {
    }
    void initialize(const OpenMM::System& system, const VAECVForce& force, const std::vector<int>& atoms);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    std::vector<double> getCollectiveVariableValues(OpenMM::ContextImpl& context);
    void copyParametersToContext(OpenMM::ContextImpl& context, const VAECVForce& force, const std::vector<int>& atoms);
    std::string getImplementation() const override;
    long long getNumModelEvaluations() const override {
        return numModelEvaluations;
    }
private:
    /** The selected atoms' positions, made whole in a periodic System (WholeMolecule.h). */
    void gatherPositions(OpenMM::ContextImpl& context);
    void evaluateLatent(bool withGradient);
    std::unique_ptr<CVEvaluator> evaluator;
    LatentBias bias;
    std::string source;
    std::vector<int> atoms;
    int numLatent;
    bool periodicSystem = false;
    long long numModelEvaluations = 0;
    std::vector<double> positions, latent, dEdz, dEdPositions;
};

} // namespace VAEPlugin

#endif
