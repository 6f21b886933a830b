#include "ReferenceVAEKernels.h"
#include "NativeCVEvaluator.h"
#include "NativeSelfCheck.h"
#include "internal/BundleChecks.h"
#ifdef OPENMMVAE_WITH_TORCH
#include "internal/TorchScriptCVEvaluator.h"
#endif
#include "internal/PythonGilRelease.h"
#include "internal/WholeMolecule.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>
#include <iostream>

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

std::string property(const VAECVForce& force, const std::string& name, const std::string& defaultValue) {
    auto p = force.getProperties().find(name);
    return p == force.getProperties().end() ? defaultValue : p->second;
}

} // namespace

void ReferenceCalcVAECVForceKernel::initialize(const System& system, const VAECVForce& force, const std::vector<int>& atoms) {
    PythonGilRelease gil;
    const VAEModelBundle& bundle = force.getBundle();
    source = bundle.getSource();
    this->atoms = atoms;
    periodicSystem = system.usesPeriodicBoundaryConditions();
    // One forward on the probe configuration checks the model, gives L, and tells whether native code agrees with it.
    NativeSelfCheck check = reportingBundleErrors([&] { return checkNativeAgainstBundle(bundle, atoms.size()); });
    numLatent = check.forwardLatent.size();
    int metadataLatent = bundle.getMetadataLatentSize();
    if (metadataLatent > 0 && metadataLatent != numLatent)
        throw OpenMMException("VAECVForce: the model from " + source + " returns " + std::to_string(numLatent) +
                              " latent values but its metadata says 'latent' = " + std::to_string(metadataLatent));
    bias = LatentBias(force, numLatent);
    std::string requested = property(force, "Implementation", "");
    if (requested != "torchscript" && check.agrees())
        evaluator = createNativeCVEvaluator(check.spec, property(force, "Precision", "single"));
    else {
#ifdef OPENMMVAE_WITH_TORCH
        if (requested == "native" || (requested != "torchscript" && bundle.hasMetadata()))
            std::cerr << "openmm-vae: VAECVForce uses the TorchScript implementation: " << check.whyNot << std::endl;
        evaluator.reset(new TorchScriptCVEvaluator(bundle.createModule(), atoms.size(), source));
#else
        throw OpenMMException("VAECVForce: " + std::string(requested == "torchscript" ? "the TorchScript implementation was asked for"
                                                                                      : "native code cannot evaluate the model from " +
                                                                                            source + " (" + check.whyNot + ")") +
                              ", and this build of openmm-vae has no LibTorch (OPENMMVAE_WITH_TORCH=OFF) to run TorchScript");
#endif
    }
    positions.resize(3 * atoms.size());
}

std::string ReferenceCalcVAECVForceKernel::getImplementation() const {
    return evaluator->name();
}

void ReferenceCalcVAECVForceKernel::gatherPositions(ContextImpl& context) {
    const std::vector<Vec3>& pos = extractPositions(context);
    for (int i = 0; i < (int) atoms.size(); i++) {
        const Vec3& r = pos[atoms[i]];
        if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || !std::isfinite(r[2]))
            throw OpenMMException("VAECVForce: the position of atom " + std::to_string(atoms[i]) + " is not finite");
        for (int d = 0; d < 3; d++)
            positions[3 * i + d] = r[d];
    }
    if (periodicSystem) {
        Vec3 box[3];
        context.getPeriodicBoxVectors(box[0], box[1], box[2]);
        makeMoleculeWhole(positions, box);
    }
}

void ReferenceCalcVAECVForceKernel::evaluateLatent(bool withGradient) {
    evaluator->evaluate(positions, latent, withGradient);
    numModelEvaluations++;
    if ((int) latent.size() != numLatent)
        throw OpenMMException("VAECVForce: the model from " + source + " returned " + std::to_string(latent.size()) +
                              " latent values, expected " + std::to_string(numLatent));
    for (double z : latent)
        if (!std::isfinite(z))
            throw OpenMMException("VAECVForce: the model from " + source + " returned a non-finite latent value for the current positions");
}

double ReferenceCalcVAECVForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    PythonGilRelease gil;
    gatherPositions(context);
    evaluateLatent(includeForces);
    double energy = bias.compute(latent, context, dEdz);
    if (includeForces) {
        evaluator->backward(dEdz, dEdPositions);
        for (double g : dEdPositions)
            if (!std::isfinite(g))
                throw OpenMMException("VAECVForce: the gradient of the model from " + source + " is not finite for the current positions");
        std::vector<Vec3>& forces = extractForces(context);
        for (int i = 0; i < (int) atoms.size(); i++)
            forces[atoms[i]] -= Vec3(dEdPositions[3 * i], dEdPositions[3 * i + 1], dEdPositions[3 * i + 2]);
    }
    return includeEnergy ? energy : 0.0;
}

std::vector<double> ReferenceCalcVAECVForceKernel::getCollectiveVariableValues(ContextImpl& context) {
    PythonGilRelease gil;
    gatherPositions(context);
    evaluateLatent(false);
    return latent;
}

void ReferenceCalcVAECVForceKernel::copyParametersToContext(ContextImpl& context, const VAECVForce& force, const std::vector<int>& atoms) {
    bias.setComponent(force.getComponent());
    if (bias.getMode() == VAECVForce::GridBias)
        bias.updateGrid(force.getGridBias());
    this->atoms = atoms;
}
