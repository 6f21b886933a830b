#include "internal/VAECVForceImpl.h"
#include "VAEKernels.h"
#include "internal/BundleChecks.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"

using namespace VAEPlugin;
using namespace OpenMM;

void VAECVForceImpl::initialize(ContextImpl& context) {
    const System& system = context.getSystem();
    std::vector<int> atoms = resolveAtoms(system);
    checkBundleFitsSystem(owner.getBundle(), system, "VAECVForce", atoms, BundleUse::CollectiveVariable);
    kernel = context.getPlatform().createKernel(CalcVAECVForceKernel::Name(), context);
    kernel.getAs<CalcVAECVForceKernel>().initialize(system, owner, atoms);
    numAtomsInContext = atoms.size();
    modeInContext = owner.getEnergyMode();
}

std::vector<int> VAECVForceImpl::resolveAtoms(const System& system) const {
    const VAECVForce& force = owner;
    std::vector<int> atoms = force.getAtoms();
    int numParticles = system.getNumParticles();
    if (atoms.empty())
        for (int i = 0; i < numParticles; i++)
            atoms.push_back(i);
    for (int atom : atoms)
        if (atom >= numParticles)
            throw OpenMMException("VAECVForce: atom index " + std::to_string(atom) + " is out of range: the System has " +
                                  std::to_string(numParticles) + " particles");
    int expected = (int) force.getBundle().getMetadataAtoms().size();
    if (expected > 0 && expected != (int) atoms.size())
        throw OpenMMException("VAECVForce: the model from " + force.getBundle().getSource() + " expects " + std::to_string(expected) +
                              " atoms but " + std::to_string(atoms.size()) + " are selected");
    return atoms;
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

long long VAECVForceImpl::getNumModelEvaluations() const {
    return kernel.getAs<const CalcVAECVForceKernel>().getNumModelEvaluations();
}

void VAECVForceImpl::updateParametersInContext(ContextImpl& context) {
    std::vector<int> atoms = resolveAtoms(context.getSystem());
    if ((int) atoms.size() != numAtomsInContext)
        throw OpenMMException("VAECVForce.updateParametersInContext: the number of atoms cannot change (" + std::to_string(numAtomsInContext) +
                              " in the Context, " + std::to_string(atoms.size()) + " now); reinitialize the Context");
    if (owner.getEnergyMode() != modeInContext)
        throw OpenMMException("VAECVForce.updateParametersInContext: the energy mode cannot change in a Context; reinitialize the Context");
    kernel.getAs<CalcVAECVForceKernel>().copyParametersToContext(context, owner, atoms);
    context.systemChanged();
}
