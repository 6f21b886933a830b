// VAECVForce on the Reference and CPU platforms: forces against finite differences, restraint
// parameters, energy conservation, CustomCVForce, serialization and every bad input.

#include "TestModels.h"
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/CustomCVForce.h"
#include "openmm/HarmonicAngleForce.h"
#include "openmm/HarmonicBondForce.h"
#include "openmm/LangevinMiddleIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include "openmm/serialization/XmlSerializer.h"
#include <gtest/gtest.h>
#include <cmath>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;
using namespace VAETest;

namespace {

System* makeSystem(int numAtoms) {
    System* system = new System();
    for (int i = 0; i < numAtoms; i++)
        system->addParticle(12.0);
    return system;
}

std::vector<Vec3> randomPositions(int numAtoms, int seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    std::vector<Vec3> positions;
    for (int i = 0; i < numAtoms; i++)
        positions.push_back(Vec3(0.15 * i + 0.3 * u(rng), 0.3 * u(rng), 0.3 * u(rng)));
    return positions;
}

/** Checks forces against the central finite difference of the energy along the force direction and per coordinate. */
void checkFiniteDifferences(Context& context, const std::vector<Vec3>& positions, const std::vector<int>& atoms) {
    context.setPositions(positions);
    State state = context.getState(State::Forces | State::Energy);
    const std::vector<Vec3>& forces = state.getForces();
    const double h = 1e-5;
    double maxForce = 0;
    for (const Vec3& f : forces)
        maxForce = std::max(maxForce, std::sqrt(f.dot(f)));
    ASSERT_GT(maxForce, 1e-3) << "test model gives vanishing forces";
    for (int atom = 0; atom < (int) positions.size(); atom++)
        for (int d = 0; d < 3; d++) {
            std::vector<Vec3> plus = positions, minus = positions;
            plus[atom][d] += h;
            minus[atom][d] -= h;
            context.setPositions(plus);
            double ePlus = context.getState(State::Energy).getPotentialEnergy();
            context.setPositions(minus);
            double eMinus = context.getState(State::Energy).getPotentialEnergy();
            double numerical = -(ePlus - eMinus) / (2 * h);
            EXPECT_NEAR(forces[atom][d], numerical, 1e-5 * maxForce) << "atom " << atom << " dim " << d;
        }
}

std::string writeTempFile(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

} // namespace

class VAECVForcePlatformTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        loadPlugins();
        platform = &Platform::getPlatformByName(GetParam());
    }
    Platform* platform;
};

TEST_P(VAECVForcePlatformTest, AnalyticModelForcesMatchFiniteDifferences) {
    const int n = 5;
    System* system = makeSystem(n);
    VAECVForce* force = new VAECVForce(analyticModel());
    force->setAtoms({3, 0, 4});
    force->useHarmonicRestraint({0.2, -0.1}, {300.0, 150.0});
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    checkFiniteDifferences(context, randomPositions(n, 3), force->getAtoms());
    delete system;
}

TEST_P(VAECVForcePlatformTest, MlpModelForcesMatchFiniteDifferences) {
    const int n = 6;
    System* system = makeSystem(n);
    VAECVForce* force = new VAECVForce(mlpModel(4, 3));
    force->setAtoms({5, 1, 2, 0});
    force->useHarmonicRestraint({0.1, 0.2, -0.3}, {100.0, 200.0, 50.0});
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    checkFiniteDifferences(context, randomPositions(n, 4), force->getAtoms());
    // Component mode too.
    force->useComponent(1);
    context.reinitialize(true);
    checkFiniteDifferences(context, randomPositions(n, 5), force->getAtoms());
    delete system;
}

TEST_P(VAECVForcePlatformTest, EnergyModesAndContextParameters) {
    const int n = 3;
    System* system = makeSystem(n);
    VAECVForce* force = new VAECVForce(analyticModel());
    force->useHarmonicRestraint({0.5, 1.0}, {10.0, 20.0});
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    std::vector<Vec3> positions = randomPositions(n, 7);
    context.setPositions(positions);
    // z from the formula of the analytic model.
    Vec3 d01 = positions[1] - positions[0], d02 = positions[2] - positions[0];
    double z0 = 1.5 * std::sqrt(d01.dot(d01)), z1 = d02.dot(d02);
    for (const Vec3& r : positions)
        z1 += std::sin(r[0]) * r[1];
    std::vector<double> z = force->getCollectiveVariableValues(context);
    ASSERT_EQ(z.size(), 2u);
    EXPECT_NEAR(z[0], z0, 1e-12);
    EXPECT_NEAR(z[1], z1, 1e-12);
    double expected = 0.5 * 10.0 * std::pow(z0 - 0.5, 2) + 0.5 * 20.0 * std::pow(z1 - 1.0, 2);
    EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), expected, 1e-10);
    EXPECT_DOUBLE_EQ(context.getParameter("vae_center1"), 1.0);
    context.setParameter("vae_center0", -0.25);
    context.setParameter("vae_kappa1", 5.0);
    expected = 0.5 * 10.0 * std::pow(z0 + 0.25, 2) + 0.5 * 5.0 * std::pow(z1 - 1.0, 2);
    EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), expected, 1e-10);
    // Component mode: E = z_k, no parameters.
    force->useComponent(1);
    context.reinitialize(true);
    EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), z1, 1e-12);
    VerletIntegrator integrator2(0.001);
    Context componentContext(*system, integrator2, *platform);
    EXPECT_THROW(componentContext.getParameter("vae_center0"), OpenMMException);
    // A custom prefix.
    force->setGlobalParameterPrefix("cv_");
    force->useHarmonicRestraint({0.0, 0.0}, {1.0, 1.0});
    context.reinitialize(true);
    EXPECT_DOUBLE_EQ(context.getParameter("cv_kappa0"), 1.0);
    delete system;
}

TEST_P(VAECVForcePlatformTest, ForceGroupsAndUpdateParametersInContext) {
    const int n = 4;
    System* system = makeSystem(n);
    VAECVForce* force = new VAECVForce(analyticModel());
    force->setAtoms({0, 1, 2});
    force->useComponent(0);
    force->setForceGroup(3);
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    std::vector<Vec3> positions = randomPositions(n, 8);
    context.setPositions(positions);
    double e = context.getState(State::Energy, false, 1 << 3).getPotentialEnergy();
    EXPECT_NE(e, 0.0);
    EXPECT_EQ(context.getState(State::Energy, false, 1 << 0).getPotentialEnergy(), 0.0);
    // Swap atoms 1 and 3 in a running Context.
    force->setAtoms({0, 3, 2});
    force->updateParametersInContext(context);
    Vec3 d = positions[3] - positions[0];
    EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), 1.5 * std::sqrt(d.dot(d)), 1e-12);
    force->useComponent(1);
    force->updateParametersInContext(context);
    EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), force->getCollectiveVariableValues(context)[1], 1e-12);
    force->setAtoms({0, 1});
    EXPECT_THROW(force->updateParametersInContext(context), OpenMMException);
    delete system;
}

TEST_P(VAECVForcePlatformTest, NveEnergyConservationWithLatentRestraint) {
    // A bent 5-atom chain (bonds, angles) restrained along a 2-D latent of a random MLP.
    const int n = 5;
    System* system = makeSystem(n);
    HarmonicBondForce* bonds = new HarmonicBondForce();
    HarmonicAngleForce* angles = new HarmonicAngleForce();
    for (int i = 0; i + 1 < n; i++)
        bonds->addBond(i, i + 1, 0.15, 5e3);
    for (int i = 0; i + 2 < n; i++)
        angles->addAngle(i, i + 1, i + 2, 1.9, 100.0);
    system->addForce(bonds);
    system->addForce(angles);
    VAECVForce* force = new VAECVForce(mlpModel(n, 2, 11));
    force->useHarmonicRestraint({0.0, 0.0}, {200.0, 200.0});
    system->addForce(force);
    VerletIntegrator integrator(0.0005);
    Context context(*system, integrator, *platform);
    std::vector<Vec3> positions;
    for (int i = 0; i < n; i++)
        positions.push_back(Vec3(0.15 * i, 0.03 * (i % 2), 0.0));
    context.setPositions(positions);
    context.setVelocitiesToTemperature(300.0, 5);
    // Total energy sampled every 0.1 ps over 10 ps; the drift is the least-squares slope.
    std::vector<double> times, energies;
    for (int block = 0; block <= 100; block++) {
        if (block > 0)
            integrator.step(200);
        State state = context.getState(State::Energy);
        times.push_back(state.getTime());
        energies.push_back(state.getKineticEnergy() + state.getPotentialEnergy());
    }
    double drift = leastSquaresSlope(times, energies);
    ASSERT_NEAR(times.back(), 10.0, 1e-9);
    std::cout << "NVE: drift " << drift << " kJ/mol/ps" << std::endl;
    EXPECT_LT(std::fabs(drift), 1e-3) << "total energy drift in kJ/mol/ps";
    // The restraint does work: the latent moves and the restraint energy is not negligible.
    EXPECT_GT(context.getState(State::Energy, false, 1 << force->getForceGroup()).getPotentialEnergy(), 0.0);
    delete system;
}

TEST_P(VAECVForcePlatformTest, InsideCustomCVForceMatchesBareForce) {
    const int n = 4;
    std::vector<Vec3> positions = randomPositions(n, 9);
    System* bare = makeSystem(n);
    VAECVForce* component = new VAECVForce(mlpModel(n, 2, 3));
    component->useComponent(1);
    bare->addForce(component);
    System* wrapped = makeSystem(n);
    CustomCVForce* cv = new CustomCVForce("z1");
    VAECVForce* inner = new VAECVForce(mlpModel(n, 2, 3));
    inner->useComponent(1);
    cv->addCollectiveVariable("z1", inner);
    wrapped->addForce(cv);
    VerletIntegrator i1(0.001), i2(0.001);
    Context c1(*bare, i1, *platform), c2(*wrapped, i2, *platform);
    c1.setPositions(positions);
    c2.setPositions(positions);
    State s1 = c1.getState(State::Energy | State::Forces), s2 = c2.getState(State::Energy | State::Forces);
    EXPECT_NEAR(s1.getPotentialEnergy(), s2.getPotentialEnergy(), 1e-12);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            EXPECT_NEAR(s1.getForces()[i][d], s2.getForces()[i][d], 1e-10);
    delete bare;
    delete wrapped;
}

TEST_P(VAECVForcePlatformTest, NonFinitePositionsRaise) {
    const int n = 3;
    System* system = makeSystem(n);
    system->addForce(new VAECVForce(analyticModel()));
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    std::vector<Vec3> positions = randomPositions(n, 1);
    positions[2][1] = std::nan("");
    context.setPositions(positions);
    try {
        context.getState(State::Energy);
        FAIL() << "NaN positions did not raise";
    }
    catch (const OpenMMException& e) {
        // Our kernel names the atom; the CPU platform's own check may come first ("Particle coordinate is nan").
        std::string msg = e.what();
        EXPECT_TRUE(msg.find("atom 2") != std::string::npos || msg.find("nan") != std::string::npos) << msg;
    }
    // The Context is still usable afterwards.
    context.setPositions(randomPositions(n, 2));
    EXPECT_TRUE(std::isfinite(context.getState(State::Energy).getPotentialEnergy()));
    delete system;
}

INSTANTIATE_TEST_SUITE_P(Platforms, VAECVForcePlatformTest, ::testing::Values("Reference", "CPU"));

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

static void expectThrowContaining(const std::function<void()>& f, const std::string& fragment) {
    try {
        f();
        ADD_FAILURE() << "no exception; expected one mentioning '" << fragment << "'";
    }
    catch (const OpenMMException& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
    }
}

static void createContext(System& system) {
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
