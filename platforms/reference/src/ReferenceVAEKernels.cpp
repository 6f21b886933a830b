#include "ReferenceVAEKernels.h"
#include "NativeCVEvaluator.h"
#include "TorchScriptCVEvaluator.h"
#include "internal/PythonGilRelease.h"
#include "internal/VAECVForceImpl.h"
#include "internal/VAEEncoderSpec.h"
#include "internal/VAEModelBundle.h"
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

/**
 * The native evaluator when the bundle is supported and agrees with its TorchScript forward on
 * the probe configuration; else null, with a one-line message when the user asked for native
 * or the model is a trainer bundle.
 */
std::unique_ptr<CVEvaluator> createNative(const VAECVForce& force, const torch::jit::Module& module, const std::vector<double>& zReference,
                                          int numAtoms) {
    std::string requested = property(force, "Implementation", "");
    std::string precision = property(force, "Precision", "single");
    bool explain = requested == "native" || force.getBundle().hasMetadata();
    VAEEncoderSpec spec;
    std::string whyNot;
    std::unique_ptr<CVEvaluator> native;
    if (!VAEEncoderSpec::fromModule(module, spec, whyNot))
        ;
    else if (spec.numAtoms != numAtoms)
        whyNot = "the bundle describes " + std::to_string(spec.numAtoms) + " atoms";
    else {
        native = createNativeCVEvaluator(spec, precision);
        std::vector<double> zNative;
        native->evaluate(VAEModelBundle::probePositions(numAtoms), zNative, false);
        double tolerance = precision == "single" ? 1e-3 : 1e-9;
        for (int k = 0; k < (int) zReference.size(); k++)
            if (zNative.size() != zReference.size() || std::fabs(zNative[k] - zReference[k]) > tolerance * (1 + std::fabs(zReference[k]))) {
                whyNot = "the native evaluation disagrees with the model's forward";
                native.reset();
                break;
            }
    }
    if (!native && explain)
        std::cerr << "openmm-vae: VAECVForce uses the TorchScript implementation: " << whyNot << std::endl;
    return native;
}

} // namespace

void ReferenceCalcVAECVForceKernel::initialize(const System& system, const VAECVForce& force) {
    PythonGilRelease gil;
    const VAEModelBundle& bundle = force.getBundle();
    source = bundle.getSource();
    atoms = VAECVForceImpl::resolveAtoms(system, force);
    torch::jit::Module module = bundle.createModule();
    std::unique_ptr<CVEvaluator> torchScript(new TorchScriptCVEvaluator(module, atoms.size(), source));
    // One evaluation on the probe configuration checks the model and gives L (and the native reference).
    std::vector<double> probeLatent;
    torchScript->evaluate(VAEModelBundle::probePositions(atoms.size()), probeLatent, false);
    numLatent = probeLatent.size();
    int metadataLatent = bundle.getMetadataLatentSize();
    if (metadataLatent > 0 && metadataLatent != numLatent)
        throw OpenMMException("VAECVForce: the model from " + source + " returns " + std::to_string(numLatent) +
                              " latent values but its metadata says 'latent' = " + std::to_string(metadataLatent));
    bias = LatentBias(force, numLatent);
    if (property(force, "Implementation", "") != "torchscript")
        evaluator = createNative(force, module, probeLatent, atoms.size());
    if (!evaluator)
        evaluator = std::move(torchScript);
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

void ReferenceCalcVAECVForceKernel::copyParametersToContext(ContextImpl& context, const VAECVForce& force) {
    std::vector<int> newAtoms = VAECVForceImpl::resolveUpdatedAtoms(context.getSystem(), force, (int) atoms.size(), bias.getMode());
    if (force.getEnergyMode() != bias.getMode())
        throw OpenMMException("VAECVForce.updateParametersInContext: the energy mode cannot change in a Context; reinitialize the Context");
    bias.setComponent(force.getComponent());
    if (bias.getMode() == VAECVForce::GridBias)
        bias.updateGrid(force.getGridBias());
    atoms = newAtoms;
}
