// Context checkpoints of a simulation with both plugin classes (a VAECVForce harmonic restraint in
// latent space and a VAEMCIntegrator making VAE moves) on Reference: after createCheckpoint /
// loadCheckpoint (in the same Context, and in a fresh Context with a fresh integrator, as a restarted
// job does) the run continues bit-identically: positions, velocities, energies, and the move
// statistics (counts and term means, restored to their values at the checkpoint).

#include "TestHelpers.h"  // tests/trainer/metrics: poorBundle, setUpThreads
#include "TestModels.h"   // tests/cpp/common: archiveBytes, loadPlugins
#include "VAECVForce.h"
#include "VAEMCIntegrator.h"
#include "openmm/Context.h"
#include "openmm/CustomExternalForce.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include <gtest/gtest.h>
#include <cmath>
#include <memory>
#include <sstream>
#include <vector>

using namespace OpenMM;
using namespace VAEPlugin;
using namespace VAEPlugin::testing_helpers;

namespace {

const int kThreads = setUpThreads();
const double kTemperature = 300.0;
const double kT = 1.380649e-23 * 6.02214076e23 / 1000.0 * kTemperature;  // kJ/mol

/** Bytes of a briefly trained bundle for the 2-D Gaussian centred at (-3, -3) (atom 0, xy features). */
const std::string& gaussianBundle() {
    static const std::string bytes = [] {
        std::unique_ptr<System2D> g = makeSystem("gaussian");
        torch::jit::Module bundle = poorBundle("xy", g->sample(3000, 5), 300, 5);
        nlohmann::json meta = {{"format_version", 1}, {"atoms", {0}}, {"latent", 1},
                               {"features", {{"kind", "xy"}}}, {"temperature", kTemperature}};
        return VAETest::archiveBytes(bundle, meta.dump());
    }();
    return bytes;
}

/** One particle in the Gaussian's potential (z held near 0) plus a latent-space restraint. */
std::unique_ptr<System> restrainedSystem() {
    auto system = std::make_unique<System>();
    system->addParticle(10.0);
    std::ostringstream e;
    e.precision(17);
    e << kT << "*0.5*((x+3)^2+(y+3)^2)+500*z^2";
    auto* well = new CustomExternalForce(e.str());
    well->addParticle(0);
    system->addForce(well);
    auto* restraint = new VAECVForce(gaussianBundle());
    restraint->setAtoms({0});
    restraint->useHarmonicRestraint({0.3}, {2.0});
    system->addForce(restraint);
    return system;
}

std::unique_ptr<VAEMCIntegrator> makeIntegrator(int seed, int moveSeed) {
    auto integrator = std::make_unique<VAEMCIntegrator>(kTemperature, 5.0, 0.004, gaussianBundle(), 6, 2);
    integrator->setRandomNumberSeed(seed);
    integrator->setMoveRandomNumberSeed(moveSeed);
    return integrator;
}

/** What a continuation produced: final state and the move statistics it added. */
struct Continuation {
    std::vector<Vec3> positions, velocities;
    double potential = 0, kinetic = 0;
    long long attempted = 0, accepted = 0, invalid = 0;
    long long totalAttempted = 0, totalAccepted = 0;  // since construction, the checkpoint's counts included
    std::vector<double> termMeans, termStds;
};

Continuation continueRun(Context& context, VAEMCIntegrator& integrator) {
    long long a0 = integrator.getNumAttempted(), c0 = integrator.getNumAccepted(), i0 = integrator.getNumRejectedInvalid();
    integrator.step(61);  // ten rounds of moves, ending mid-way between two
    integrator.attemptMoves(7);
    State s = context.getState(State::Positions | State::Velocities | State::Energy);
    Continuation c;
    c.positions = s.getPositions();
    c.velocities = s.getVelocities();
    c.potential = s.getPotentialEnergy();
    c.kinetic = s.getKineticEnergy();
    c.attempted = integrator.getNumAttempted() - a0;
    c.accepted = integrator.getNumAccepted() - c0;
    c.invalid = integrator.getNumRejectedInvalid() - i0;
    c.totalAttempted = integrator.getNumAttempted();
    c.totalAccepted = integrator.getNumAccepted();
    c.termMeans = integrator.getTermMeans();
    c.termStds = integrator.getTermStds();
    return c;
}

void expectIdentical(const Continuation& a, const Continuation& b) {
    EXPECT_EQ(a.positions[0], b.positions[0]);
    EXPECT_EQ(a.velocities[0], b.velocities[0]);
    EXPECT_EQ(a.potential, b.potential);
    EXPECT_EQ(a.kinetic, b.kinetic);
    EXPECT_EQ(a.attempted, b.attempted);
    EXPECT_EQ(a.accepted, b.accepted);
    EXPECT_EQ(a.invalid, b.invalid);
    EXPECT_EQ(a.totalAttempted, b.totalAttempted);
    EXPECT_EQ(a.totalAccepted, b.totalAccepted);
    EXPECT_EQ(a.termMeans, b.termMeans);
    EXPECT_EQ(a.termStds, b.termStds);
}

TEST(ContextCheckpoint, ForceAndIntegratorContinueBitIdentically) {
    VAETest::loadPlugins();
    std::unique_ptr<System> system = restrainedSystem();
    std::unique_ptr<VAEMCIntegrator> integrator = makeIntegrator(1, 2);
    Context context(*system, *integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({Vec3(-3.2, -2.7, 0.0)});
    context.setVelocitiesToTemperature(kTemperature, 1);
    integrator->step(33);  // mid-way between two rounds of moves
    ASSERT_GT(integrator->getNumAttempted(), 0);
    const long long attemptedAtCheckpoint = integrator->getNumAttempted();
    std::stringstream checkpoint;
    context.createCheckpoint(checkpoint);

    Continuation first = continueRun(context, *integrator);
    // The run must be one that checks something: moves accepted and rejected, the restraint acting.
    EXPECT_GT(first.accepted, 0);
    EXPECT_LT(first.accepted, first.attempted);
    EXPECT_EQ(first.attempted, 10 * 2 + 7);
    EXPECT_NE(first.positions[0], Vec3(-3.2, -2.7, 0.0));
    EXPECT_EQ(first.totalAttempted, attemptedAtCheckpoint + first.attempted);

    // Same Context, restored.
    checkpoint.seekg(0);
    context.loadCheckpoint(checkpoint);
    expectIdentical(first, continueRun(context, *integrator));

    // A fresh Context with a fresh integrator seeded differently (a restarted job): the checkpoint
    // carries both random generators and the step count between rounds of moves.
    std::unique_ptr<System> system2 = restrainedSystem();
    std::unique_ptr<VAEMCIntegrator> integrator2 = makeIntegrator(77, 78);
    Context context2(*system2, *integrator2, Platform::getPlatformByName("Reference"));
    context2.setPositions({Vec3(-2.0, -2.0, 0.0)});
    ASSERT_EQ(integrator2->getNumAttempted(), 0);
    checkpoint.seekg(0);
    context2.loadCheckpoint(checkpoint);
    EXPECT_EQ(integrator2->getNumAttempted(), attemptedAtCheckpoint);
    expectIdentical(first, continueRun(context2, *integrator2));
}

TEST(ContextCheckpoint, TruncatedCheckpointIsRefused) {
    VAETest::loadPlugins();
    std::unique_ptr<System> system = restrainedSystem();
    std::unique_ptr<VAEMCIntegrator> integrator = makeIntegrator(1, 2);
    Context context(*system, *integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({Vec3(-3.2, -2.7, 0.0)});
    integrator->step(3);
    std::stringstream checkpoint;
    context.createCheckpoint(checkpoint);
    std::string bytes = checkpoint.str();
    // Cut inside the move statistics (the last bytes of the checkpoint), then inside the move
    // generator state before them (a 64-bit Mersenne Twister: kilobytes).
    for (size_t cutBytes : {20, 1000}) {
        std::stringstream cut(bytes.substr(0, bytes.size() - cutBytes));
        EXPECT_THROW(context.loadCheckpoint(cut), OpenMMException) << cutBytes << " bytes cut";
    }
}

} // namespace
