#include "VAECVForceProxy.h"
#include "Base64.h"
#include "VAECVForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using namespace VAEPlugin;
using namespace OpenMM;

VAECVForceProxy::VAECVForceProxy() : SerializationProxy("VAECVForce") {
}

void VAECVForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", 1);
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
    SerializationNode& properties = node.createChildNode("Properties");
    for (const auto& property : force.getProperties())
        properties.createChildNode("Property").setStringProperty("name", property.first).setStringProperty("value", property.second);
    node.createChildNode("Model").setStringProperty("base64", encodeBase64(force.getModelBytes()));
}

void* VAECVForceProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version != 1)
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
        else
            force->useComponent(node.getIntProperty("component"));
    }
    catch (...) {
        delete force;
        throw;
    }
    return force;
}
