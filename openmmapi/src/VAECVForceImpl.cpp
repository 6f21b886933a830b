#include "internal/VAECVForceImpl.h"
#include "VAEKernels.h"
#include "internal/VAEModelBundle.h"
#include "openmm/internal/ContextImpl.h"

using namespace VAEPlugin;
using namespace OpenMM;

void VAECVForceImpl::initialize(ContextImpl& context) {
    const System& system = context.getSystem();
    std::vector<int> atoms = owner.getAtoms();
    if (atoms.empty())  // all particles, as the kernels read them
        for (int i = 0; i < system.getNumParticles(); i++)
            atoms.push_back(i);
    if (owner.getBundle().getMetadataAtoms().size() == atoms.size())  // a count mismatch is reported by the kernel
        owner.getBundle().checkSystem(system, "VAECVForce", atoms);
    kernel = context.getPlatform().createKernel(CalcVAECVForceKernel::Name(), context);
    kernel.getAs<CalcVAECVForceKernel>().initialize(context.getSystem(), owner);
}

double VAECVForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0)
        return kernel.getAs<CalcVAECVForceKernel>().execute(context, includeForces, includeEnergy);
    return 0.0;
}

std::map<std::string, double> VAECVForceImpl::getDefaultParameters() {
    std::map<std::string, double> parameters;
    if (owner.getEnergyMode() == VAECVForce::HarmonicRestraint) {
        for (int k = 0; k < (int) owner.getCenters().size(); k++) {
            parameters[owner.getCenterParameterName(k)] = owner.getCenters()[k];
            parameters[owner.getForceConstantParameterName(k)] = owner.getForceConstants()[k];
        }
    }
    return parameters;
}

std::vector<std::string> VAECVForceImpl::getKernelNames() {
    return {CalcVAECVForceKernel::Name()};
}

std::vector<double> VAECVForceImpl::getCollectiveVariableValues(ContextImpl& context) {
    return kernel.getAs<CalcVAECVForceKernel>().getCollectiveVariableValues(context);
}

std::string VAECVForceImpl::getImplementation() const {
    return kernel.getAs<const CalcVAECVForceKernel>().getImplementation();
}

void VAECVForceImpl::updateParametersInContext(ContextImpl& context) {
    kernel.getAs<CalcVAECVForceKernel>().copyParametersToContext(context, owner);
    context.systemChanged();
}
