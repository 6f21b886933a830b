#ifndef OPENMM_VAE_CVFORCE_IMPL_H_
#define OPENMM_VAE_CVFORCE_IMPL_H_

#include "VAECVForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <vector>

namespace VAEPlugin {

/** Wires a VAECVForce into a Context; the computation lives in the platform kernels. */
class VAECVForceImpl : public OpenMM::ForceImpl {
public:
    explicit VAECVForceImpl(const VAECVForce& owner) : owner(owner) {
    }
    void initialize(OpenMM::ContextImpl& context);
    const VAECVForce& getOwner() const {
        return owner;
    }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {
    }
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters();
    std::vector<std::string> getKernelNames();
    std::vector<double> getCollectiveVariableValues(OpenMM::ContextImpl& context);
    void updateParametersInContext(OpenMM::ContextImpl& context);
    std::string getImplementation() const;
    long long getNumModelEvaluations() const;
private:
    /** The atoms fed to the model (all particles for an empty list), checked against the System and the bundle. */
    std::vector<int> resolveAtoms(const OpenMM::System& system) const;
    const VAECVForce& owner;
    OpenMM::Kernel kernel;
    // what a Context fixes at creation: the number of atoms and the energy mode
    int numAtomsInContext = 0;
    VAECVForce::EnergyMode modeInContext = VAECVForce::Component;
};

} // namespace VAEPlugin

#endif
