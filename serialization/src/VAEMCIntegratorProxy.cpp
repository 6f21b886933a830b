#include "VAEMCIntegratorProxy.h"
#include "Base64.h"
#include "VAEMCIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"

using namespace VAEPlugin;
using namespace OpenMM;

VAEMCIntegratorProxy::VAEMCIntegratorProxy() : SerializationProxy("VAEMCIntegrator") {
}

void VAEMCIntegratorProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", 3);
    const VAEMCIntegrator& integrator = *reinterpret_cast<const VAEMCIntegrator*>(object);
    node.setDoubleProperty("stepSize", integrator.getStepSize());
    node.setDoubleProperty("constraintTolerance", integrator.getConstraintTolerance());
    node.setDoubleProperty("temperature", integrator.getTemperature());
    node.setDoubleProperty("friction", integrator.getFriction());
    node.setIntProperty("randomSeed", integrator.getRandomNumberSeed());
    node.setIntProperty("integrationForceGroups", integrator.getIntegrationForceGroups());
    node.setIntProperty("stepsBetweenMoves", integrator.getStepsBetweenMoves());
    node.setIntProperty("movesPerAttempt", integrator.getMovesPerAttempt());
    node.setIntProperty("moveRandomSeed", integrator.getMoveRandomNumberSeed());
    node.setIntProperty("proposalBatchSize", integrator.getProposalBatchSize());
    node.setDoubleProperty("fullMoveProbability", integrator.getFullMoveProbability());
    node.setDoubleProperty("torsionMoveProbability", integrator.getTorsionMoveProbability());
    node.createChildNode("Model").setStringProperty("base64", encodeBase64(integrator.getModelBytes()));
}

void* VAEMCIntegratorProxy::deserialize(const SerializationNode& node) const {
    int version = node.getIntProperty("version");
    if (version < 1 || version > 3)
        throw OpenMMException("VAEMCIntegrator XML: unsupported version " + std::to_string(version));
    VAEMCIntegrator* integrator = new VAEMCIntegrator(
        node.getDoubleProperty("temperature"), node.getDoubleProperty("friction"), node.getDoubleProperty("stepSize"),
        decodeBase64(node.getChildNode("Model").getStringProperty("base64")), node.getIntProperty("stepsBetweenMoves"),
        node.getIntProperty("movesPerAttempt"));
    try {
        integrator->setConstraintTolerance(node.getDoubleProperty("constraintTolerance"));
        integrator->setRandomNumberSeed(node.getIntProperty("randomSeed"));
        integrator->setIntegrationForceGroups(node.getIntProperty("integrationForceGroups", 0xFFFFFFFF));
        integrator->setMoveRandomNumberSeed(node.getIntProperty("moveRandomSeed"));
        // version 1 predates batched proposals: it drew one proposal per move
        integrator->setProposalBatchSize(version >= 2 ? node.getIntProperty("proposalBatchSize") : 1);
        // versions 1 and 2 predate torsion moves: full moves only
        if (version >= 3)
            integrator->setMoveProbabilities(node.getDoubleProperty("fullMoveProbability"),
                                             node.getDoubleProperty("torsionMoveProbability"));
    }
    catch (...) {
        delete integrator;
        throw;
    }
    return integrator;
}
