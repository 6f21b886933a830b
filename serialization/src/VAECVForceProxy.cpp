#include "VAECVForceProxy.h"
#include "Base64.h"
#include "VAECVForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <cstring>

using namespace VAEPlugin;
using namespace OpenMM;

VAECVForceProxy::VAECVForceProxy() : SerializationProxy("VAECVForce") {
}

namespace {

// Grid values travel as the base64 of their IEEE-754 bytes (this machine's byte order), so a
// deserialized grid bias is bit-identical.
std::string encodeDoubles(const std::vector<double>& values) {
    return encodeBase64(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double)));
}

std::vector<double> decodeDoubles(const std::string& text, int expected) {
    std::string bytes = decodeBase64(text);
    if (bytes.size() != expected * sizeof(double))
        throw OpenMMException("VAECVForce XML: the grid has " + std::to_string(expected) + " points but its values hold " +
                              std::to_string(bytes.size()) + " bytes");
    std::vector<double> values(expected);
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
}

} // namespace

void VAECVForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", 2);
    const VAECVForce& force = *reinterpret_cast<const VAECVForce*>(object);
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    node.setIntProperty("energyMode", force.getEnergyMode());
    node.setIntProperty("component", force.getComponent());
    node.setStringProperty("globalParameterPrefix", force.getGlobalParameterPrefix());
    SerializationNode& atoms = node.createChildNode("Atoms");
    for (int atom : force.getAtoms())
        atoms.createChildNode("Atom").setIntProperty("index", atom);
    SerializationNode& restraint = node.createChildNode("Restraint");
    for (int k = 0; k < (int) force.getCenters().size(); k++)
        restraint.createChildNode("Dimension").setDoubleProperty("center", force.getCenters()[k]).setDoubleProperty("kappa", force.getForceConstants()[k]);
    if (force.getEnergyMode() == VAECVForce::GridBias) {
        const LatentGrid& grid = force.getGridBias();
        SerializationNode& gridNode = node.createChildNode("Grid").setDoubleProperty("wallForceConstant", grid.getWallForceConstant());
        for (int d = 0; d < grid.getNumDimensions(); d++)
            gridNode.createChildNode("Dimension")
                .setDoubleProperty("min", grid.getMins()[d])
                .setDoubleProperty("max", grid.getMaxs()[d])
                .setIntProperty("size", grid.getSizes()[d])
                .setBoolProperty("periodic", grid.getPeriodic()[d]);
        gridNode.createChildNode("Values").setStringProperty("base64", encodeDoubles(grid.getValues()));
    }
    SerializationNode& properties = node.createChildNode("Properties");
    for (const auto& property : force.getProperties())
        properties.createChildNode("Property").setStringProperty("name", property.first).setStringProperty("value", property.second);
    node.createChildNode("Model").setStringProperty("base64", encodeBase64(force.getModelBytes()));
}

void* VAECVForceProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version != 1 && version != 2)  // 2 added the grid bias
        throw OpenMMException("VAECVForce XML: unsupported version " + std::to_string(version));
    VAECVForce* force = new VAECVForce(decodeBase64(node.getChildNode("Model").getStringProperty("base64")));
    try {
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setGlobalParameterPrefix(node.getStringProperty("globalParameterPrefix", "vae_"));
        std::vector<int> atoms;
        for (const SerializationNode& atom : node.getChildNode("Atoms").getChildren())
            atoms.push_back(atom.getIntProperty("index"));
        if (!atoms.empty())
            force->setAtoms(atoms);
        for (const SerializationNode& property : node.getChildNode("Properties").getChildren())
            force->setProperty(property.getStringProperty("name"), property.getStringProperty("value"));
        if (node.getIntProperty("energyMode") == VAECVForce::HarmonicRestraint) {
            std::vector<double> centers, kappas;
            for (const SerializationNode& dim : node.getChildNode("Restraint").getChildren()) {
                centers.push_back(dim.getDoubleProperty("center"));
                kappas.push_back(dim.getDoubleProperty("kappa"));
            }
            force->useHarmonicRestraint(centers, kappas);
        }
        else if (node.getIntProperty("energyMode") == VAECVForce::GridBias) {
            const SerializationNode& gridNode = node.getChildNode("Grid");
            std::vector<double> mins, maxs;
            std::vector<int> sizes;
            std::vector<bool> periodic;
            for (const SerializationNode& dim : gridNode.getChildren()) {
                if (dim.getName() != "Dimension")
                    continue;
                mins.push_back(dim.getDoubleProperty("min"));
                maxs.push_back(dim.getDoubleProperty("max"));
                sizes.push_back(dim.getIntProperty("size"));
                periodic.push_back(dim.getBoolProperty("periodic"));
            }
            LatentGrid grid(mins, maxs, sizes, periodic);
            grid.setValues(decodeDoubles(gridNode.getChildNode("Values").getStringProperty("base64"), grid.getNumPoints()));
            grid.setWallForceConstant(gridNode.getDoubleProperty("wallForceConstant"));
            force->useGridBias(grid);
        }
        else
            force->useComponent(node.getIntProperty("component"));
    }
    catch (...) {
        delete force;
        throw;
    }
    return force;
}
