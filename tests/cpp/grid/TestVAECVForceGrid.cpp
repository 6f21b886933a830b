// VAECVForce in GridBias mode on the Reference and CPU platforms: energy = LatentGrid interpolation
// of z, forces against finite differences (TorchScript and native double evaluators, across cells
// and at periodic wraps), CPU against Reference, grid updates in a running Context, one network
// evaluation per force evaluation, XML round trip, bad input.

#include "LatentGrid.h"
#include "TestData.h"
#include "TestModels.h"
#include "TestSupport.h"
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/CustomCVForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include "openmm/serialization/XmlSerializer.h"
#include <gtest/gtest.h>
#include <cmath>
#include <algorithm>
#include <functional>
#include <memory>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;
using namespace VAETest;

namespace {

/** A grid around z0 (half-width `halfWidth` per dimension) holding a few overlapping hills, so that the bias has structure in every cell. */
LatentGrid hillyGrid(const std::vector<double>& z0, double halfWidth, const std::vector<bool>& periodic, int size) {
    std::vector<double> mins, maxs;
    for (double z : z0) {
        mins.push_back(z - halfWidth);
        maxs.push_back(z + halfWidth);
    }
    LatentGrid grid(mins, maxs, std::vector<int>(z0.size(), size), periodic);
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    for (int hill = 0; hill < 6; hill++) {
        std::vector<double> center, sigma;
        for (double z : z0) {
            center.push_back(z + halfWidth * u(rng));
            sigma.push_back(0.3 * halfWidth);
        }
        grid.addGaussian(center, sigma, 20.0 * u(rng));
    }
    return grid;
}

/** The latent value of `positions` under `model` (any mode; evaluated in a throw-away Context). */
std::vector<double> latentOf(const std::string& model, const std::vector<int>& atoms, int numParticles, const std::vector<Vec3>& positions) {
    System* system = makeSystem(numParticles);
    VAECVForce* force = new VAECVForce(model);
    force->setAtoms(atoms);
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions(positions);
    std::vector<double> z = force->getCollectiveVariableValues(context);
    delete system;
    return z;
}

} // namespace

class VAECVForceGridTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        loadPlugins();
        platform = &Platform::getPlatformByName(GetParam());
    }
    Platform* platform;
};

TEST_P(VAECVForceGridTest, EnergyIsTheGridInterpolationAndForcesMatchFiniteDifferences) {
    const int n = 5;
    std::string model = mlpModel(4, 2, 3);
    std::vector<int> atoms = {4, 0, 2, 1};
    std::vector<Vec3> positions = randomPositions(n, 8);
    std::vector<double> z0 = latentOf(model, atoms, n, positions);
    // Cells of width 0.05 around z: a 1e-2 nm displacement crosses several of them.
    LatentGrid grid = hillyGrid(z0, 0.5, {false, false}, 21);
    std::unique_ptr<System> system(makeSystem(n));
    VAECVForce* force = new VAECVForce(model);
    force->setAtoms(atoms);
    force->useGridBias(grid);
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    std::mt19937 rng(2);
    std::normal_distribution<double> normal(0.0, 0.02);
    for (int trial = 0; trial < 4; trial++) {
        std::vector<Vec3> p = positions;
        for (Vec3& r : p)
            r += Vec3(normal(rng), normal(rng), normal(rng));
        context.setPositions(p);
        std::vector<double> z = force->getCollectiveVariableValues(context), gradient;
        EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), grid.evaluate(z, gradient), 1e-9);
        // Cells are narrow in z1 here, so the O(h) difference error where h straddles a grid line is larger.
        expectForcesMatchFiniteDifferences(context, p, 1e-3);
    }
}

TEST_P(VAECVForceGridTest, PeriodicDimensionWrapsAndNativeDoubleMatchesFiniteDifferences) {
    // A trainer bundle evaluated natively in double; dimension 1 periodic with a period shorter than
    // the spread of z, so the sampled z cross the seam and lie outside [min, max).
    const int n = 4;
    std::vector<int> atoms = {0, 1, 2, 3};
    std::string bundle = dataBytes("positions-4atoms.pt");
    std::vector<Vec3> positions = VAETest::randomPositions(n, 6);
    std::mt19937 rng(3);
    std::normal_distribution<double> normal(0.0, 0.15);
    std::vector<std::vector<Vec3>> samples;
    std::vector<double> z1;
    for (int trial = 0; trial < 6; trial++) {
        std::vector<Vec3> p = positions;
        for (Vec3& r : p)
            r += Vec3(normal(rng), normal(rng), normal(rng));
        samples.push_back(p);
        z1.push_back(latentOf(bundle, atoms, n, p)[1]);
    }
    std::vector<double> z0 = latentOf(bundle, atoms, n, positions);
    double lo = *std::min_element(z1.begin(), z1.end()), hi = *std::max_element(z1.begin(), z1.end());
    ASSERT_GT(hi - lo, 1e-3);
    // The period covers the middle third of the sampled z1: most samples lie outside [min, max).
    double pmin = lo + (hi - lo) / 3, pmax = lo + 2 * (hi - lo) / 3, period = pmax - pmin;
    LatentGrid grid({z0[0] - 1.0, pmin}, {z0[0] + 1.0, pmax}, {25, 12}, {false, true});
    grid.addGaussian({z0[0], pmin + 0.2 * period}, {0.3, 0.15 * period}, 30.0);
    grid.addGaussian({z0[0] + 0.4, pmin + 0.7 * period}, {0.2, 0.1 * period}, -15.0);
    std::unique_ptr<System> system(makeSystem(n));
    VAECVForce* force = new VAECVForce(bundle);
    force->setAtoms(atoms);
    force->setProperty("Implementation", "native");
    force->setProperty("Precision", "double");
    force->useGridBias(grid);
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    EXPECT_EQ(force->getImplementationInContext(context), "native-double");
    int outside = 0;
    for (const std::vector<Vec3>& p : samples) {
        context.setPositions(p);
        std::vector<double> z = force->getCollectiveVariableValues(context), gradient;
        if (z[1] < grid.getMins()[1] || z[1] >= grid.getMaxs()[1])
            outside++;
        EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), grid.evaluate(z, gradient), 1e-9);
        // Cells are narrow in z1 here, so the O(h) difference error where h straddles a grid line is larger.
        expectForcesMatchFiniteDifferences(context, p, 1e-3);
    }
    EXPECT_GT(outside, 0) << "no sample crossed the periodic seam; the test does not test the wrap";
}

TEST_P(VAECVForceGridTest, UpdateParametersInContextChangesTheBiasWithoutANewContext) {
    const int n = 4;
    std::string model = mlpModel(4, 2, 5);
    std::vector<Vec3> positions = randomPositions(n, 2);
    std::vector<double> z0 = latentOf(model, {0, 1, 2, 3}, n, positions);
    LatentGrid grid = hillyGrid(z0, 1.0, {false, true}, 15);
    std::unique_ptr<System> system(makeSystem(n));
    VAECVForce* force = new VAECVForce(model);
    force->useGridBias(grid);
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, *platform);
    context.setPositions(positions);
    std::vector<double> gradient;
    double before = context.getState(State::Energy).getPotentialEnergy();
    EXPECT_NEAR(before, grid.evaluate(z0, gradient), 1e-9);
    grid.addGaussian(z0, {0.3, 0.3}, 7.5);
    force->useGridBias(grid);
    force->updateParametersInContext(context);
    double after = context.getState(State::Energy).getPotentialEnergy();
    EXPECT_NEAR(after - before, 7.5, 0.1);  // a hill centred on z adds its height there (up to the interpolation)
    EXPECT_NEAR(after, grid.evaluate(z0, gradient), 1e-9);
    // What the Context fixed cannot change.
    LatentGrid other({z0[0] - 1.0, z0[1] - 1.0}, {z0[0] + 1.0, z0[1] + 1.0}, {16, 15}, {false, true});
    force->useGridBias(other);
    expectThrowContaining([&] { force->updateParametersInContext(context); }, "grid geometry");
    force->useHarmonicRestraint({0.0, 0.0}, {1.0, 1.0});
    expectThrowContaining([&] { force->updateParametersInContext(context); }, "energy mode cannot change");
    EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), after, 1e-9);  // the Context is untouched
}

TEST_P(VAECVForceGridTest, OneNetworkEvaluationPerForceEvaluationForATwoDimensionalBias) {
    const int n = 4;
    std::string model = mlpModel(4, 2, 6);
    std::vector<Vec3> positions = randomPositions(n, 3);
    std::vector<double> z0 = latentOf(model, {0, 1, 2, 3}, n, positions);
    std::unique_ptr<System> system(makeSystem(n));
    VAECVForce* force = new VAECVForce(model);
    force->useGridBias(hillyGrid(z0, 1.0, {false, false}, 11));
    system->addForce(force);
    // The same 2-D bias the way app.Metadynamics builds it: one CV force per latent component.
    std::unique_ptr<System> perComponent(makeSystem(n));
    CustomCVForce* cv = new CustomCVForce("z0 + z1");
    for (int k = 0; k < 2; k++) {
        VAECVForce* component = new VAECVForce(model);
        component->useComponent(k);
        cv->addCollectiveVariable("z" + std::to_string(k), component);
    }
    perComponent->addForce(cv);
    VerletIntegrator integrator(0.001), integrator2(0.001);
    Context context(*system, integrator, *platform), context2(*perComponent, integrator2, *platform);
    context.setPositions(positions);
    context2.setPositions(positions);
    long long start = force->getNumModelEvaluationsInContext(context);
    for (int i = 0; i < 5; i++)
        context.getState(State::Forces | State::Energy);
    EXPECT_EQ(force->getNumModelEvaluationsInContext(context) - start, 5);
    start = force->getNumModelEvaluationsInContext(context);
    integrator.step(20);  // Verlet: one force evaluation per step
    EXPECT_EQ(force->getNumModelEvaluationsInContext(context) - start, 20);
    // The per-component construction (components in the CustomCVForce's inner Context) evaluates
    // the network once per component and force evaluation.
    // The inner Context holds copies of the component forces.
    Context& innerContext = cv->getInnerContext(context2);
    auto innerEvaluations = [&]() {
        long long total = 0;
        for (int k = 0; k < innerContext.getSystem().getNumForces(); k++)
            total += dynamic_cast<const VAECVForce&>(innerContext.getSystem().getForce(k)).getNumModelEvaluationsInContext(innerContext);
        return total;
    };
    ASSERT_EQ(innerContext.getSystem().getNumForces(), 2);
    long long startInner = innerEvaluations();
    for (int i = 0; i < 5; i++)
        context2.getState(State::Forces | State::Energy);
    EXPECT_EQ(innerEvaluations() - startInner, 2 * 5);
}

TEST_P(VAECVForceGridTest, CpuMatchesReference) {
    if (GetParam() == "Reference")
        GTEST_SKIP() << "compares CPU against Reference";
    const int n = 4;
    std::vector<int> atoms = {0, 1, 2, 3};
    std::string bundle = dataBytes("positions-4atoms.pt");
    std::vector<Vec3> positions = VAETest::randomPositions(n, 1);
    std::vector<double> z0 = latentOf(bundle, atoms, n, positions);
    LatentGrid grid = hillyGrid(z0, 0.5, {true, false}, 20);
    std::vector<State> states;
    for (Platform* p : {&Platform::getPlatformByName("Reference"), platform}) {
        std::unique_ptr<System> system(makeSystem(n));
        VAECVForce* force = new VAECVForce(bundle);
        force->setAtoms(atoms);
        force->setProperty("Precision", "double");
        force->useGridBias(grid);
        system->addForce(force);
        VerletIntegrator integrator(0.001);
        Context context(*system, integrator, *p);
        context.setPositions(positions);
        states.push_back(context.getState(State::Energy | State::Forces));
    }
    EXPECT_NEAR(states[0].getPotentialEnergy(), states[1].getPotentialEnergy(), 1e-9);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            EXPECT_NEAR(states[0].getForces()[i][d], states[1].getForces()[i][d], 1e-8);
}

INSTANTIATE_TEST_SUITE_P(Platforms, VAECVForceGridTest, ::testing::Values("Reference", "CPU"));

TEST(VAECVForceGrid, XmlRoundTripReproducesTheBiasExactly) {
    loadPlugins();
    const int n = 4;
    std::string model = mlpModel(4, 2, 7);
    std::vector<Vec3> positions = randomPositions(n, 5);
    std::vector<double> z0 = latentOf(model, {0, 1, 2, 3}, n, positions);
    System system;
    for (int i = 0; i < n; i++)
        system.addParticle(1.0);
    VAECVForce* force = new VAECVForce(model);
    LatentGrid grid = hillyGrid(z0, 1.0, {true, false}, 13);
    grid.setWallForceConstant(123.0);
    force->useGridBias(grid);
    system.addForce(force);
    std::stringstream xml;
    XmlSerializer::serialize<System>(&system, "System", xml);
    std::unique_ptr<System> copy(XmlSerializer::deserialize<System>(xml));
    const VAECVForce& restored = dynamic_cast<const VAECVForce&>(copy->getForce(0));
    ASSERT_EQ(restored.getEnergyMode(), VAECVForce::GridBias);
    const LatentGrid& g = restored.getGridBias();
    EXPECT_TRUE(g.hasSameGeometry(grid));
    EXPECT_EQ(g.getValues(), grid.getValues());  // bit-identical
    EXPECT_EQ(g.getWallForceConstant(), 123.0);
    VerletIntegrator i1(0.001), i2(0.001);
    Context c1(system, i1, Platform::getPlatformByName("Reference")), c2(*copy, i2, Platform::getPlatformByName("Reference"));
    c1.setPositions(positions);
    c2.setPositions(positions);
    EXPECT_EQ(c1.getState(State::Energy).getPotentialEnergy(), c2.getState(State::Energy).getPotentialEnergy());
}

TEST(VAECVForceGrid, BadInput) {
    loadPlugins();
    std::string model = mlpModel(4, 2, 8);
    VAECVForce force(model);
    expectThrowContaining([&] { force.getGridBias(); }, "not in GridBias mode");
    force.setAtoms({0, 1, 2, 3});  // L becomes known (2)
    LatentGrid grid1({0.0}, {1.0}, {5}, {false});
    expectThrowContaining([&] { force.useGridBias(grid1); }, "the grid has 1 dimension(s) but the latent space has 2");
    // A model without metadata and no atoms: L is only known in the Context.
    System system;
    for (int i = 0; i < 4; i++)
        system.addParticle(1.0);
    VAECVForce* unknown = new VAECVForce(model);
    unknown->useGridBias(grid1);
    system.addForce(unknown);
    VerletIntegrator integrator(0.001);
    expectThrowContaining([&] { Context context(system, integrator, Platform::getPlatformByName("Reference")); },
                          "the grid bias has 1 dimension(s) but the latent space has 2");
}
