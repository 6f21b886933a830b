#include "ReferenceVAEKernels.h"
#include "internal/PythonGilRelease.h"
#include "internal/VAEModelBundle.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>

using namespace VAEPlugin;
using namespace OpenMM;

namespace {

std::vector<Vec3>& extractPositions(ContextImpl& context) {
    auto* data = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    return *data->positions;
}

std::vector<Vec3>& extractForces(ContextImpl& context) {
    auto* data = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    return *data->forces;
}

/** The atoms fed to the model, validated against the System. */
std::vector<int> resolveAtoms(const System& system, const VAECVForce& force) {
    std::vector<int> atoms = force.getAtoms();
    int numParticles = system.getNumParticles();
    if (atoms.empty())
        for (int i = 0; i < numParticles; i++)
            atoms.push_back(i);
    for (int i = 0; i < (int) atoms.size(); i++)
        if (atoms[i] >= numParticles)
            throw OpenMMException("VAECVForce: atom index " + std::to_string(atoms[i]) + " is out of range: the System has " +
                                  std::to_string(numParticles) + " particles");
    int expected = (int) force.getBundle().getMetadataAtoms().size();
    if (expected > 0 && expected != (int) atoms.size())
        throw OpenMMException("VAECVForce: the model from " + force.getBundle().getSource() + " expects " + std::to_string(expected) +
                              " atoms but " + std::to_string(atoms.size()) + " are selected");
    return atoms;
}

} // namespace

void ReferenceCalcVAECVForceKernel::initialize(const System& system, const VAECVForce& force) {
    PythonGilRelease gil;
    const VAEModelBundle& bundle = force.getBundle();
    source = bundle.getSource();
    atoms = resolveAtoms(system, force);
    module = bundle.createModule();
    numLatent = bundle.probeLatentSize(atoms.size());
    int metadataLatent = bundle.getMetadataLatentSize();
    if (metadataLatent > 0 && metadataLatent != numLatent)
        throw OpenMMException("VAECVForce: the model from " + source + " returns " + std::to_string(numLatent) +
                              " latent values but its metadata says 'latent' = " + std::to_string(metadataLatent));
    mode = force.getEnergyMode();
    component = force.getComponent();
    if (mode == VAECVForce::Component && component >= numLatent)
        throw OpenMMException("VAECVForce: component index " + std::to_string(component) + " is out of range: the latent space has " +
                              std::to_string(numLatent) + " dimension(s)");
    if (mode == VAECVForce::HarmonicRestraint) {
        if ((int) force.getCenters().size() != numLatent)
            throw OpenMMException("VAECVForce: the harmonic restraint has " + std::to_string(force.getCenters().size()) +
                                  " centers but the latent space has " + std::to_string(numLatent) + " dimension(s)");
        for (int k = 0; k < numLatent; k++) {
            centerNames.push_back(force.getCenterParameterName(k));
            kappaNames.push_back(force.getForceConstantParameterName(k));
        }
    }
}

torch::Tensor ReferenceCalcVAECVForceKernel::gatherPositions(ContextImpl& context, bool requiresGrad) {
    const std::vector<Vec3>& pos = extractPositions(context);
    torch::Tensor positions = torch::empty({(int64_t) atoms.size(), 3}, torch::kFloat64);
    double* p = positions.data_ptr<double>();
    for (int i = 0; i < (int) atoms.size(); i++) {
        const Vec3& r = pos[atoms[i]];
        if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || !std::isfinite(r[2]))
            throw OpenMMException("VAECVForce: the position of atom " + std::to_string(atoms[i]) + " is not finite");
        for (int d = 0; d < 3; d++)
            p[3 * i + d] = r[d];
    }
    return positions.requires_grad_(requiresGrad);
}

torch::Tensor ReferenceCalcVAECVForceKernel::evaluateLatent(const torch::Tensor& positions) {
    torch::Tensor z = VAEModelBundle::evaluate(module, positions, source);
    if (z.size(0) != numLatent)
        throw OpenMMException("VAECVForce: the model from " + source + " returned " + std::to_string(z.size(0)) +
                              " latent values, expected " + std::to_string(numLatent));
    z = z.to(torch::kFloat64);
    if (!torch::isfinite(z).all().item<bool>())
        throw OpenMMException("VAECVForce: the model from " + source + " returned a non-finite latent value for the current positions");
    return z;
}

double ReferenceCalcVAECVForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    PythonGilRelease gil;
    torch::Tensor positions = gatherPositions(context, includeForces);
    torch::Tensor z = evaluateLatent(positions);
    torch::Tensor energy;
    if (mode == VAECVForce::Component)
        energy = z[component];
    else {
        std::vector<double> c(numLatent), kappa(numLatent);
        for (int k = 0; k < numLatent; k++) {
            c[k] = context.getParameter(centerNames[k]);
            kappa[k] = context.getParameter(kappaNames[k]);
        }
        torch::Tensor center = torch::tensor(c, torch::kFloat64), forceConstant = torch::tensor(kappa, torch::kFloat64);
        energy = 0.5 * (forceConstant * (z - center).square()).sum();
    }
    if (includeForces) {
        energy.backward();
        torch::Tensor gradient = positions.grad();
        if (!gradient.defined())  // the CV does not depend on the positions
            gradient = torch::zeros_like(positions);
        if (!torch::isfinite(gradient).all().item<bool>())
            throw OpenMMException("VAECVForce: the gradient of the model from " + source + " is not finite for the current positions");
        const double* g = gradient.data_ptr<double>();
        std::vector<Vec3>& forces = extractForces(context);
        for (int i = 0; i < (int) atoms.size(); i++)
            forces[atoms[i]] -= Vec3(g[3 * i], g[3 * i + 1], g[3 * i + 2]);
    }
    return includeEnergy ? energy.item<double>() : 0.0;
}

std::vector<double> ReferenceCalcVAECVForceKernel::getCollectiveVariableValues(ContextImpl& context) {
    PythonGilRelease gil;
    torch::NoGradGuard noGrad;
    torch::Tensor z = evaluateLatent(gatherPositions(context, false)).contiguous();
    return std::vector<double>(z.data_ptr<double>(), z.data_ptr<double>() + numLatent);
}

void ReferenceCalcVAECVForceKernel::copyParametersToContext(ContextImpl& context, const VAECVForce& force) {
    std::vector<int> newAtoms = resolveAtoms(context.getSystem(), force);
    if (newAtoms.size() != atoms.size())
        throw OpenMMException("VAECVForce.updateParametersInContext: the number of atoms cannot change (" + std::to_string(atoms.size()) +
                              " in the Context, " + std::to_string(newAtoms.size()) + " now); reinitialize the Context");
    if (force.getEnergyMode() != mode)
        throw OpenMMException("VAECVForce.updateParametersInContext: the energy mode cannot change in a Context; reinitialize the Context");
    if (mode == VAECVForce::Component && force.getComponent() >= numLatent)
        throw OpenMMException("VAECVForce.updateParametersInContext: component index " + std::to_string(force.getComponent()) +
                              " is out of range: the latent space has " + std::to_string(numLatent) + " dimension(s)");
    atoms = newAtoms;
    component = force.getComponent();
}
