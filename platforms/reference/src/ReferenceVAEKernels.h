#ifndef REFERENCE_VAE_KERNELS_H_
#define REFERENCE_VAE_KERNELS_H_

#include "VAEKernels.h"
#include <torch/script.h>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * VAECVForce evaluated with LibTorch: the TorchScript model in double precision, forces by
 * automatic differentiation. Registered for the Reference and CPU platforms; the ground truth
 * every other implementation is tested against.
 */
class ReferenceCalcVAECVForceKernel : public CalcVAECVForceKernel {
public:
    ReferenceCalcVAECVForceKernel(std::string name, const OpenMM::Platform& platform) : CalcVAECVForceKernel(name, platform) {
    }
    void initialize(const OpenMM::System& system, const VAECVForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    std::vector<double> getCollectiveVariableValues(OpenMM::ContextImpl& context);
    void copyParametersToContext(OpenMM::ContextImpl& context, const VAECVForce& force);
private:
    torch::Tensor gatherPositions(OpenMM::ContextImpl& context, bool requiresGrad);
    torch::Tensor evaluateLatent(const torch::Tensor& positions);
    torch::jit::Module module;
    std::string source;
    std::vector<int> atoms;
    VAECVForce::EnergyMode mode;
    int component, numLatent;
    std::vector<std::string> centerNames, kappaNames;
};

} // namespace VAEPlugin

#endif
