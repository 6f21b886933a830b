#ifndef OPENMM_VAE_KERNELS_H_
#define OPENMM_VAE_KERNELS_H_

#include "VAECVForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/** Computes the energy and forces of a VAECVForce. */
class CalcVAECVForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() {
        return "CalcVAECVForce";
    }
    CalcVAECVForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {
    }
    /**
     * Prepare the kernel: load the model and check that the kernel can evaluate it. atoms: the System
     * indices the CV reads, already resolved and checked against the System and the bundle by VAECVForceImpl.
     */
    virtual void initialize(const OpenMM::System& system, const VAECVForce& force, const std::vector<int>& atoms) = 0;
    /** Add forces (if includeForces) and return the energy (if includeEnergy) in kJ/mol. */
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
    /** The latent mean z for the Context's current positions. */
    virtual std::vector<double> getCollectiveVariableValues(OpenMM::ContextImpl& context) = 0;
    /** Which implementation evaluates the CV ("native-single", "native-double" or "torchscript"). */
    virtual std::string getImplementation() const = 0;
    /** How many times the network has been evaluated since initialize(). */
    virtual long long getNumModelEvaluations() const = 0;
    /** Copy changed atoms (resolved and checked as in initialize), component or grid values into the kernel. */
    virtual void copyParametersToContext(OpenMM::ContextImpl& context, const VAECVForce& force, const std::vector<int>& atoms) = 0;
};

} // namespace VAEPlugin

#endif
