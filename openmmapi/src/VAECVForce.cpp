#include "VAECVForce.h"
#include "internal/VAECVForceImpl.h"
#include "internal/BundleChecks.h"
#include "openmm/OpenMMException.h"
#include <cmath>
#include <set>

using namespace VAEPlugin;
using namespace OpenMM;

VAECVForce::VAECVForce(const std::string& model) : bundle(reportingBundleErrors([&] { return VAEModelBundle::load(model); })), mode(Component), component(0), prefix("vae_") {
    atoms = bundle->getMetadataAtoms();
}

const std::string& VAECVForce::getModelBytes() const {
    return bundle->getBytes();
}

const std::string& VAECVForce::getMetadata() const {
    return bundle->getMetadataText();
}

const VAEModelBundle& VAECVForce::getBundle() const {
    return *bundle;
}

void VAECVForce::setAtoms(const std::vector<int>& indices) {
    std::set<int> seen;
    for (int i = 0; i < (int) indices.size(); i++) {
        if (indices[i] < 0)
            throw OpenMMException("VAECVForce.setAtoms: atom index " + std::to_string(indices[i]) + " at position " + std::to_string(i) + " is negative");
        if (!seen.insert(indices[i]).second)
            throw OpenMMException("VAECVForce.setAtoms: atom index " + std::to_string(indices[i]) + " is repeated (position " + std::to_string(i) + ")");
    }
    int expected = (int) bundle->getMetadataAtoms().size();
    if (expected > 0 && (int) indices.size() != expected)
        throw OpenMMException("VAECVForce.setAtoms: the model from " + bundle->getSource() + " expects " + std::to_string(expected) +
                              " atoms, got " + std::to_string(indices.size()));
    atoms = indices;
}

const std::vector<int>& VAECVForce::getAtoms() const {
    return atoms;
}

int VAECVForce::getNumLatentDimensions() const {
    int latent = bundle->getMetadataLatentSize();
    if (latent > 0)
        return latent;
    if (!atoms.empty())
        return reportingBundleErrors([&] { return (int) bundle->getCheckRecord(atoms.size(), false).probeLatent.size(); });
    if (mode == HarmonicRestraint)
        return centers.size();
    if (mode == GridBias)
        return grid->getNumDimensions();
    throw OpenMMException("VAECVForce: the model from " + bundle->getSource() +
                          " has no metadata giving its latent size; call setAtoms() first so that it can be evaluated");
}

void VAECVForce::useComponent(int k) {
    if (k < 0)
        throw OpenMMException("VAECVForce.useComponent: component index " + std::to_string(k) + " is negative");
    int latent = bundle->getMetadataLatentSize();
    if (latent < 0 && !atoms.empty())
        latent = getNumLatentDimensions();
    if (latent > 0 && k >= latent)
        throw OpenMMException("VAECVForce.useComponent: component index " + std::to_string(k) + " is out of range: the latent space has " +
                              std::to_string(latent) + " dimension(s)");
    mode = Component;
    component = k;
    centers.clear();
    forceConstants.clear();
    grid.reset();
}

void VAECVForce::useHarmonicRestraint(const std::vector<double>& c, const std::vector<double>& kappa) {
    if (c.size() != kappa.size())
        throw OpenMMException("VAECVForce.useHarmonicRestraint: " + std::to_string(c.size()) + " centers but " +
                              std::to_string(kappa.size()) + " force constants");
    if (c.empty())
        throw OpenMMException("VAECVForce.useHarmonicRestraint: no centers given");
    int latent = bundle->getMetadataLatentSize();
    if (latent < 0 && !atoms.empty())
        latent = getNumLatentDimensions();
    if (latent > 0 && (int) c.size() != latent)
        throw OpenMMException("VAECVForce.useHarmonicRestraint: " + std::to_string(c.size()) + " centers given but the latent space has " +
                              std::to_string(latent) + " dimension(s)");
    for (int k = 0; k < (int) c.size(); k++)
        if (!std::isfinite(c[k]) || !std::isfinite(kappa[k]))
            throw OpenMMException("VAECVForce.useHarmonicRestraint: center or force constant " + std::to_string(k) + " is not finite");
    mode = HarmonicRestraint;
    centers = c;
    forceConstants = kappa;
    grid.reset();
}

void VAECVForce::useGridBias(const LatentGrid& g) {
    int latent = bundle->getMetadataLatentSize();
    if (latent < 0 && !atoms.empty())
        latent = getNumLatentDimensions();
    if (latent > 0 && g.getNumDimensions() != latent)
        throw OpenMMException("VAECVForce.useGridBias: the grid has " + std::to_string(g.getNumDimensions()) + " dimension(s) but the latent space has " +
                              std::to_string(latent));
    mode = GridBias;
    grid = std::make_shared<const LatentGrid>(g);
    centers.clear();
    forceConstants.clear();
}

const LatentGrid& VAECVForce::getGridBias() const {
    if (mode != GridBias || !grid)
        throw OpenMMException("VAECVForce.getGridBias: the force is not in GridBias mode (call useGridBias first)");
    return *grid;
}

VAECVForce::EnergyMode VAECVForce::getEnergyMode() const {
    return mode;
}

int VAECVForce::getComponent() const {
    return component;
}

const std::vector<double>& VAECVForce::getCenters() const {
    return centers;
}

const std::vector<double>& VAECVForce::getForceConstants() const {
    return forceConstants;
}

void VAECVForce::setGlobalParameterPrefix(const std::string& p) {
    prefix = p;
}

const std::string& VAECVForce::getGlobalParameterPrefix() const {
    return prefix;
}

std::string VAECVForce::getCenterParameterName(int k) const {
    return prefix + "center" + std::to_string(k);
}

std::string VAECVForce::getForceConstantParameterName(int k) const {
    return prefix + "kappa" + std::to_string(k);
}

std::vector<double> VAECVForce::getCollectiveVariableValues(Context& context) const {
    VAECVForceImpl& impl = const_cast<VAECVForceImpl&>(dynamic_cast<const VAECVForceImpl&>(getImplInContext(context)));
    return impl.getCollectiveVariableValues(const_cast<VAECVForce*>(this)->getContextImpl(context));
}

std::string VAECVForce::getImplementationInContext(const Context& context) const {
    return dynamic_cast<const VAECVForceImpl&>(getImplInContext(context)).getImplementation();
}

long long VAECVForce::getNumModelEvaluationsInContext(const Context& context) const {
    return dynamic_cast<const VAECVForceImpl&>(getImplInContext(context)).getNumModelEvaluations();
}

void VAECVForce::updateParametersInContext(Context& context) {
    dynamic_cast<VAECVForceImpl&>(getImplInContext(context)).updateParametersInContext(getContextImpl(context));
}

void VAECVForce::setProperty(const std::string& name, const std::string& value) {
    static const std::map<std::string, std::set<std::string>> allowed = {
        {"Implementation", {"native", "torchscript"}},
        {"Precision", {"single", "double"}},
        {"WorkGroupSize", {"auto", "1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024"}},
        {"ThreadsPerOutput", {"auto", "1", "2", "4", "8", "16", "32", "64"}},
    };
    auto entry = allowed.find(name);
    if (entry == allowed.end())
        throw OpenMMException("VAECVForce.setProperty: unknown property '" + name + "' (known: Implementation, Precision, WorkGroupSize, ThreadsPerOutput)");
    if (entry->second.count(value) == 0) {
        std::string options;
        for (const std::string& v : entry->second)
            options += (options.empty() ? "" : ", ") + v;
        throw OpenMMException("VAECVForce.setProperty: invalid value '" + value + "' for " + name + " (allowed: " + options + ")");
    }
    properties[name] = value;
}

const std::map<std::string, std::string>& VAECVForce::getProperties() const {
    return properties;
}

ForceImpl* VAECVForce::createImpl() const {
    return new VAECVForceImpl(*this);
}
