// VAECVForce apart from any one platform: construction from a file or bytes, metadata,
// serialization, and every bad input (Reference). The per-platform tests are VAECVForceTests.h,
// instantiated in tests/cpp/platforms.

#include "TestModels.h"
#include "TestSupport.h"
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include "openmm/serialization/XmlSerializer.h"
#include <gtest/gtest.h>
#include <fstream>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;
using namespace VAETest;

namespace {

std::string writeTempFile(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

} // namespace

TEST(VAECVForce, ConstructFromFileAndBytesAndMetadata) {
    loadPlugins();
    std::string bytes = mlpModel(3, 2, 5, metadataFor({4, 2, 0}, 2));
    std::string path = writeTempFile("vae_meta_model.pt", bytes);
    VAECVForce fromFile(path), fromBytes(bytes);
    EXPECT_EQ(fromFile.getModelBytes(), bytes);
    EXPECT_EQ(fromFile.getAtoms(), std::vector<int>({4, 2, 0}));
    EXPECT_EQ(fromBytes.getNumLatentDimensions(), 2);
    EXPECT_FALSE(fromFile.getMetadata().empty());
    // Without metadata the latent size is found by evaluating the model on the selected atoms.
    VAECVForce plain(mlpModel(3, 4));
    EXPECT_THROW(plain.getNumLatentDimensions(), OpenMMException);
    plain.setAtoms({0, 1, 2});
    EXPECT_EQ(plain.getNumLatentDimensions(), 4);
}

TEST(VAECVForce, SerializationRoundTripGivesIdenticalEnergies) {
    loadPlugins();
    const int n = 5;
    System system;
    for (int i = 0; i < n; i++)
        system.addParticle(1.0);
    VAECVForce* force = new VAECVForce(mlpModel(3, 2, 6, metadataFor({4, 0, 2}, 2)));
    force->useHarmonicRestraint({0.3, -0.2}, {50.0, 70.0});
    force->setGlobalParameterPrefix("u_");
    force->setForceGroup(2);
    force->setName("latent restraint");
    system.addForce(force);
    std::stringstream xml;
    XmlSerializer::serialize<System>(&system, "System", xml);
    System* copy = XmlSerializer::deserialize<System>(xml);
    const VAECVForce& restored = dynamic_cast<const VAECVForce&>(copy->getForce(0));
    EXPECT_EQ(restored.getModelBytes(), force->getModelBytes());
    EXPECT_EQ(restored.getAtoms(), force->getAtoms());
    EXPECT_EQ(restored.getCenters(), force->getCenters());
    EXPECT_EQ(restored.getForceConstants(), force->getForceConstants());
    EXPECT_EQ(restored.getGlobalParameterPrefix(), "u_");
    EXPECT_EQ(restored.getForceGroup(), 2);
    EXPECT_EQ(restored.getName(), "latent restraint");
    VerletIntegrator i1(0.001), i2(0.001);
    Platform& platform = Platform::getPlatformByName("Reference");
    Context c1(system, i1, platform), c2(*copy, i2, platform);
    std::vector<Vec3> positions = randomPositions(n, 12);
    c1.setPositions(positions);
    c2.setPositions(positions);
    State s1 = c1.getState(State::Energy | State::Forces), s2 = c2.getState(State::Energy | State::Forces);
    EXPECT_EQ(s1.getPotentialEnergy(), s2.getPotentialEnergy());
    for (int i = 0; i < n; i++)
        EXPECT_EQ(s1.getForces()[i], s2.getForces()[i]);
    delete copy;
}

// ---- Bad input: each gets an OpenMMException whose message names the problem. ----

static void createContext(const System& system) {
    loadPlugins();
    VerletIntegrator integrator(0.001);
    Context context(system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions(randomPositions(system.getNumParticles(), 1));
    context.getState(State::Energy | State::Forces);
}

TEST(VAECVForceBadInput, MissingOrInvalidModel) {
    expectThrowContaining([] { VAECVForce f("/nonexistent/dir/model.pt"); }, "/nonexistent/dir/model.pt");
    std::string textFile = writeTempFile("vae_not_a_model.pt", "this is not a model");
    expectThrowContaining([&] { VAECVForce f(textFile); }, "not a TorchScript archive");
    expectThrowContaining([] { VAECVForce f(std::string("PK\x03\x04garbage", 11)); }, "not a valid TorchScript archive");
    std::string truncated = analyticModel();
    truncated.resize(truncated.size() / 2);
    expectThrowContaining([&] { VAECVForce f(truncated); }, "not a valid TorchScript archive");
    torch::jit::Module noForward("NoForward");
    noForward.define("def other(self, x):\n    return x\n");
    std::string bytes = archiveBytes(noForward);
    expectThrowContaining([&] { VAECVForce f(bytes); }, "no forward");
    expectThrowContaining([] { VAECVForce f(mlpModel(2, 2, 1, "{not json")); }, "metadata.json is not valid JSON");
    expectThrowContaining([] { VAECVForce f(mlpModel(2, 2, 1, "{\"latent\": -3}")); }, "'latent'");
    expectThrowContaining([] { VAECVForce f(mlpModel(2, 2, 1, "{\"atoms\": [0, 1, 0]}")); }, "repeats an atom index");
}

TEST(VAECVForceBadInput, ModelForwardFailsOrHasWrongShape) {
    System* system = makeSystem(3);
    system->addForce(new VAECVForce(customModel("return positions")));
    expectThrowContaining([&] { createContext(*system); }, "shape [L]");
    delete system;
    system = makeSystem(3);
    system->addForce(new VAECVForce(customModel("return positions[10]")));
    expectThrowContaining([&] { createContext(*system); }, "forward(positions[3, 3]) failed");
    delete system;
    system = makeSystem(3);
    system->addForce(new VAECVForce(customModel("assert positions.size(0) == 99, 'deliberate failure'\n    return positions[0]")));
    expectThrowContaining([&] { createContext(*system); }, "deliberate failure");
    delete system;
    // The model works on the probe but gives a non-finite value at the actual positions.
    system = makeSystem(3);
    system->addForce(new VAECVForce(customModel("return torch.log(positions[0, 0:1] - 1e-300)")));
    {
        loadPlugins();
        VerletIntegrator integrator(0.001);
        Context context(*system, integrator, Platform::getPlatformByName("Reference"));
        std::vector<Vec3> positions = randomPositions(3, 1);
        positions[0][0] = -1.0;
        context.setPositions(positions);
        expectThrowContaining([&] { context.getState(State::Energy); }, "non-finite latent value");
    }
    delete system;
}

TEST(VAECVForceBadInput, AtomsOutOfRangeRepeatedOrWrongCount) {
    VAECVForce force(analyticModel());
    expectThrowContaining([&] { force.setAtoms({0, 1, 1}); }, "repeated");
    expectThrowContaining([&] { force.setAtoms({0, -2, 1}); }, "negative");
    System* system = makeSystem(3);
    VAECVForce* outOfRange = new VAECVForce(analyticModel());
    outOfRange->setAtoms({0, 1, 7});
    system->addForce(outOfRange);
    expectThrowContaining([&] { createContext(*system); }, "atom index 7 is out of range");
    delete system;
    VAECVForce withMetadata(mlpModel(3, 2, 1, metadataFor({0, 1, 2}, 2)));
    expectThrowContaining([&] { withMetadata.setAtoms({0, 1}); }, "expects 3 atoms");
    // A model without metadata that expects a different atom count fails at Context creation.
    system = makeSystem(5);
    system->addForce(new VAECVForce(mlpModel(3, 2)));
    expectThrowContaining([&] { createContext(*system); }, "forward(positions[5, 3]) failed");
    delete system;
}

TEST(VAECVForceBadInput, ComponentAndRestraintSizes) {
    VAECVForce force(mlpModel(3, 2, 1, metadataFor({0, 1, 2}, 2)));
    expectThrowContaining([&] { force.useComponent(2); }, "component index 2 is out of range");
    expectThrowContaining([&] { force.useComponent(-1); }, "negative");
    expectThrowContaining([&] { force.useHarmonicRestraint({0.0, 1.0}, {1.0}); }, "2 centers but 1 force constants");
    expectThrowContaining([&] { force.useHarmonicRestraint({0.0, 1.0, 2.0}, {1.0, 1.0, 1.0}); }, "3 centers given but the latent space has 2");
    expectThrowContaining([&] { force.useHarmonicRestraint({NAN, 1.0}, {1.0, 1.0}); }, "not finite");
    // Without metadata the sizes are checked when the Context is created.
    System* system = makeSystem(3);
    VAECVForce* plain = new VAECVForce(mlpModel(3, 2));
    plain->useComponent(5);
    system->addForce(plain);
    expectThrowContaining([&] { createContext(*system); }, "component index 5 is out of range");
    plain->useHarmonicRestraint({1.0, 2.0, 3.0}, {1.0, 1.0, 1.0});
    expectThrowContaining([&] { createContext(*system); }, "3 centers but the latent space has 2");
    delete system;
}
