// Context checkpoints of a simulation with both plugin classes (a particle on the Mueller surface, a
// VAECVForce harmonic restraint in latent space and a VAEMCIntegrator making VAE moves, with the
// bundle tests/data/mueller-xy-condind.pt) on Reference: after createCheckpoint /
// loadCheckpoint (in the same Context, and in a fresh Context with a fresh integrator, as a restarted
// job does) the run continues bit-identically: positions, velocities, energies, and the move
// statistics (counts and term means, restored to their values at the checkpoint).

#include "TestData.h"
#include "TestSupport.h"
#include "ToySystems.h"
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
using VAETest::kTemperature;

namespace {

const bool kDeterministic = VAETest::deterministicTorch();

/** Bytes of a briefly trained bundle (tests/data) of the Mueller surface (atom 0, xy features). */
const std::string& muellerBundle() {
    static const std::string bytes = VAETest::dataBytes("mueller-xy-condind.pt");
    return bytes;
}

/** One particle on the Mueller surface (z held near 0) plus a latent-space restraint. */
std::unique_ptr<System> restrainedSystem() {
    std::unique_ptr<System> system(VAETest::toyParticleSystem("mueller"));
    auto* restraint = new VAECVForce(muellerBundle());
    restraint->setAtoms({0});
    restraint->useHarmonicRestraint({0.3}, {2.0});
    system->addForce(restraint);
    return system;
}

std::unique_ptr<VAEMCIntegrator> makeIntegrator(int seed, int moveSeed) {
    auto integrator = std::make_unique<VAEMCIntegrator>(kTemperature, 5.0, 0.004, muellerBundle(), 6, 2);
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
    context.setPositions({Vec3(-0.5, 1.4, 0.0)});
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
    EXPECT_NE(first.positions[0], Vec3(-0.5, 1.4, 0.0));
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
    context2.setPositions({Vec3(0.6, 0.1, 0.0)});
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
    context.setPositions({Vec3(-0.5, 1.4, 0.0)});
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
