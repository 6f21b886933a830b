// VAEMCIntegrator: exactness in OpenMM (a particle on the Mueller surface and on the beltway sampled by
// VAE moves reproduces the Boltzmann histogram; the same check fails with a term of ln alpha dropped),
// mixed Langevin + MC, serialization, checkpoints and seeds, bad input, other platforms. The exactness
// checks run with batched proposals (the default batch size) and with one proposal per batch. Move
// kinds (issue 20): per-kind statistics, their XML and checkpoints, the System's constraint lengths
// (their exactness on a molecule: TestRotorExactness).

#include "TestData.h"
#include "TestModels.h"
#include "TestSupport.h"
#include "ToySystems.h"
#include "VAEMCProposals.h"
#include "VAEMCStatistics.h"
#include "VAEMCIntegrator.h"
#include "VAEMCIntegratorTestAccess.h"
#include "VAECVForce.h"
#include "VAEModelBundle.h"
#include "openmm/Context.h"
#include "openmm/CustomExternalForce.h"
#include "openmm/HarmonicAngleForce.h"
#include "openmm/HarmonicBondForce.h"
#include "openmm/PeriodicTorsionForce.h"
#include "openmm/LangevinMiddleIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include "openmm/serialization/XmlSerializer.h"
#include <gtest/gtest.h>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;
using VAETest::kT;
using VAETest::kTemperature;
using VAETest::messageOf;

namespace {

const bool kDeterministic = VAETest::deterministicTorch();

/**
 * A 2-D system, independent Boltzmann samples of it and its bundle from tests/data (atom 0):
 * condind, L = 1, width 20, 16 epochs of 3800 samples at learning rate 3e-3 (tests/data/generate),
 * the same number of Adam steps as the bundle these tests trained for themselves before.
 */
struct TrainedSystem {
    std::string name;
    std::vector<Vec3> samples;
    std::string bundle;
};

std::string metadata(const std::string& kind, int latent, const nlohmann::json& temperature = nullptr,
                     const std::vector<int>& atoms = {0}) {
    nlohmann::json j;
    j["format_version"] = 1;
    j["atoms"] = atoms;
    j["latent"] = latent;
    j["features"] = {{"kind", kind}};
    j["temperature"] = temperature;
    return j.dump();
}

TrainedSystem& setupFor(const std::string& name) {
    static std::map<std::string, TrainedSystem> cache;
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    TrainedSystem s;
    s.name = name;
    s.samples = VAETest::toySamples(name, 4000, 11);
    s.bundle = VAETest::dataBytes(name == "mueller" ? "mueller-xy-condind.pt" : "beltway-polar-condind.pt");
    return cache.emplace(name, std::move(s)).first->second;
}

System* particleSystem(const std::string& name) {
    return VAETest::toyParticleSystem(name);
}

Vec3 positionOf(const TrainedSystem& s, int row) {
    return s.samples[row];
}

/**
 * Chains of pure VAE-MC (attemptMoves) of one particle in one Context: chain k starts at the k-th
 * Boltzmann sample and makes `moves` moves; its final configuration is one sample. Samples are
 * independent, so chi2 against the exact histogram has its nominal distribution when the move keeps
 * exp(-BU) invariant, and is large when it does not (the chains move: acceptance > 0).
 */
double pureMonteCarlo(const std::string& name, const std::array<double, kVAEMCNumTerms>& weights, int chains,
                      int moves, int* dof, double* acceptance, int batchSize = 0, bool nativeMoves = true) {
    TrainedSystem& s = setupFor(name);
    std::unique_ptr<System> system(particleSystem(name));
    VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, s.bundle);
    if (batchSize > 0) integrator.setProposalBatchSize(batchSize);
    integrator.setMoveRandomNumberSeed(5);
    VAEMCIntegratorTestAccess::setTermWeights(integrator, weights);
    VAEMCIntegratorTestAccess::setNativeMoves(integrator, nativeMoves);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    const bool native = VAEMCIntegratorTestAccess::usesNativeMoves(integrator);
    std::vector<Vec3> finals;
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < chains; k++) {
        context.setPositions({positionOf(s, k)});
        integrator.attemptMoves(moves);
        finals.push_back(context.getState(State::Positions).getPositions()[0]);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double chi2 = VAETest::toyChiSquare(name, finals, dof);
    *acceptance = integrator.getAcceptanceRate();
    std::cout << "[vae-mc-integrator] " << name << " weights {" << weights[0] << "," << weights[1] << "," << weights[2]
              << "," << weights[3] << "," << weights[4] << "} " << (native ? "native moves" : "TorchScript moves, batch ")
              << (native ? std::string() : std::to_string(integrator.getProposalBatchSize())) << ", " << chains << " chains x " << moves << " moves in "
              << secs << " s: acceptance " << *acceptance << " rejected invalid " << integrator.getNumRejectedInvalid()
              << " chi2 " << chi2 << " dof " << *dof << "\n";
    for (int k = 0; k < kVAEMCNumTerms; k++)
        std::cout << "    term " << VAEMCIntegrator::getTermNames()[k] << ": mean " << integrator.getTermMeans()[k]
                  << " std " << integrator.getTermStds()[k] << "\n";
    return chi2;
}

bool passes(double chi2, int dof) {
    return VAETest::chiSquarePasses(chi2, dof);
}

const int kChains = 1500, kMoves = 3;

} // namespace

TEST(VAEMCIntegrator, EnergyExpressionsAreTheSystems) {
    // The OpenMM potential is U(x, y) in kT of the systems the bundles were trained on (otherwise the
    // histogram tests mean nothing): the three Mueller-Brown minima (Mueller and Brown 1979, scaled by
    // 0.1) and the normalisation of the beltway density, exp(-U) = p(r) / (2 pi r), over the plane.
    std::unique_ptr<System> mueller(particleSystem("mueller"));
    VerletIntegrator verlet(0.001);
    Context context(*mueller, verlet, Platform::getPlatformByName("Reference"));
    for (auto [p, u] : std::vector<std::pair<Vec3, double>>{
             {Vec3(-0.558224, 1.441726, 0.0), -14.669951}, {Vec3(0.623499, 0.028038, 0.0), -10.816672}, {Vec3(-0.050011, 0.466694, 0.0), -8.076782}}) {
        context.setPositions({p});
        EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy() / kT, u, 1e-5) << p;
        EXPECT_NEAR(VAETest::toyEnergy("mueller", p[0], p[1]), u, 1e-5) << p;
    }
    std::unique_ptr<System> beltway(particleSystem("beltway-rtheta"));
    VerletIntegrator verlet2(0.001);
    Context context2(*beltway, verlet2, Platform::getPlatformByName("Reference"));
    double integral = 0, dr = 1e-3;
    for (double r = 0.5 * dr; r < 6.0; r += dr) {
        context2.setPositions({Vec3(r * std::cos(1.0), r * std::sin(1.0), 0.0)});
        integral += 2 * M_PI * r * std::exp(-context2.getState(State::Energy).getPotentialEnergy() / kT) * dr;
    }
    EXPECT_NEAR(integral, 1.0, 1e-6);
    for (Vec3 p : {Vec3(0.3, 0.4, 0.0), Vec3(-0.6, 1.4, 0.0), Vec3(0.9, -0.1, 0.0)}) {
        context2.setPositions({p});
        double u = context2.getState(State::Energy).getPotentialEnergy() / kT;
        EXPECT_NEAR(u, VAETest::toyEnergy("beltway-rtheta", p[0], p[1]), 1e-9 * (1 + std::abs(u))) << p;
    }
}

namespace {

const std::array<double, kVAEMCNumTerms> kAllTerms = {1, 1, 1, 1, 1};

/**
 * Pure VAE-MC with every term of ln alpha reproduces the Boltzmann histogram, and the chains move:
 * with batchSize 0 on the path the bundle gets (native moves where it allows them), else on the
 * TorchScript path with that proposal batch size.
 */
void expectExactSampling(const std::string& name, int batchSize = 0) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo(name, kAllTerms, kChains, kMoves, &dof, &acceptance, batchSize, batchSize == 0);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
    EXPECT_GT(acceptance, 0.05);
    EXPECT_LT(acceptance, 1.0);
}

/** With a term of ln alpha weighted 0 the same check fails: it has the power to see a wrong move (on either path). */
void expectCheckFails(const std::string& name, const std::array<double, kVAEMCNumTerms>& weights) {
    for (bool native : {true, false}) {
        int dof;
        double acceptance;
        double chi2 = pureMonteCarlo(name, weights, kChains, kMoves, &dof, &acceptance, 0, native);
        EXPECT_FALSE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof << (native ? " native" : " TorchScript");
    }
}

} // namespace

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactly) {
    expectExactSampling("mueller");
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactlyThroughTorchScript) {
    expectExactSampling("mueller", 64);
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactlyOneProposalPerBatch) {
    expectExactSampling("mueller", 1);
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactlyWithBatchesSpanningChains) {
    // 7 does not divide the 3 moves of a chain: batches of proposals are used across chains, whose
    // starting points are set between calls
    expectExactSampling("mueller", 7);
}

TEST(VAEMCIntegrator, MuellerCheckFailsWithATermDropped) {
    expectCheckFails("mueller", {1, 1, 1, 0, 1});  // ln P(x|z) dropped
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesBeltwayPolarExactly) {
    expectExactSampling("beltway-rtheta");
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesBeltwayPolarExactlyThroughTorchScript) {
    expectExactSampling("beltway-rtheta", 64);
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesBeltwayPolarExactlyOneProposalPerBatch) {
    expectExactSampling("beltway-rtheta", 1);
}

TEST(VAEMCIntegrator, BeltwayCheckFailsWithoutJacobian) {
    expectCheckFails("beltway-rtheta", {1, 1, 1, 1, 0});  // ln J dropped
}

namespace {

/** The state after `steps` Langevin steps (with their moves) and then `moves` pure moves from one start. */
struct RunResult {
    std::vector<Vec3> positions, velocities;
    long long accepted;
};

RunResult runFrom(const System& system, VAEMCIntegrator& integrator, const Vec3& start, int steps, int moves,
            const std::string& platform = "Reference") {
    Context context(system, integrator, Platform::getPlatformByName(platform));
    context.setPositions({start});
    context.setVelocitiesToTemperature(kTemperature, 17);
    integrator.step(steps);
    integrator.attemptMoves(moves);
    State state = context.getState(State::Positions | State::Velocities);
    return {state.getPositions(), state.getVelocities(), integrator.getNumAccepted()};
}

std::string muellerBundleWithMetadata(const std::string& meta) {
    TrainedSystem& s = setupFor("mueller");
    std::istringstream in(s.bundle);
    torch::jit::Module module = torch::jit::load(in);
    return VAETest::archiveBytes(module, meta);
}

} // namespace

TEST(VAEMCIntegrator, MixedLangevinAndMovesSampleMuellerExactly) {
    // Langevin middle dynamics with a move after every 20 steps: 400 chains of 100 steps (5 moves)
    // from Boltzmann samples with Maxwell-Boltzmann velocities; a coarser check than the pure MC one.
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator integrator(kTemperature, 5.0, 0.004, s.bundle, 20, 1);
    integrator.setRandomNumberSeed(7);
    integrator.setMoveRandomNumberSeed(8);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    const int chains = 400;
    std::vector<Vec3> finals;
    for (int k = 0; k < chains; k++) {
        context.setPositions({positionOf(s, 2000 + k)});
        context.setVelocitiesToTemperature(kTemperature, k + 1);
        integrator.step(100);
        finals.push_back(context.getState(State::Positions).getPositions()[0]);
    }
    int dof;
    double chi2 = VAETest::toyChiSquare("mueller", finals, &dof);
    std::cout << "[vae-mc-integrator] mixed: " << integrator.getNumAttempted() << " moves, acceptance "
              << integrator.getAcceptanceRate() << " chi2 " << chi2 << " dof " << dof << "\n";
    EXPECT_EQ(integrator.getNumAttempted(), chains * 5);
    EXPECT_GT(integrator.getAcceptanceRate(), 0.05);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
}

TEST(VAEMCIntegrator, WithoutMovesItIsLangevinMiddle) {
    // The dynamics is the platform's own LangevinMiddle kernel: same seed, same trajectory. (The
    // Reference platform's Gaussian generator is global and caches the second value of each
    // Box-Muller pair across Contexts, so each run draws an even number of Gaussians: 98 steps x 3.)
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator vae(kTemperature, 5.0, 0.004, s.bundle, 14, 0);
    LangevinMiddleIntegrator plain(kTemperature, 5.0, 0.004);
    vae.setRandomNumberSeed(4);
    plain.setRandomNumberSeed(4);
    std::vector<Vec3> p[2];
    int i = 0;
    for (Integrator* integrator : {(Integrator*) &vae, (Integrator*) &plain}) {
        Context context(*system, *integrator, Platform::getPlatformByName("Reference"));
        context.setPositions({positionOf(s, 0)});
        context.setVelocitiesToTemperature(kTemperature, 3);
        for (int k = 0; k < 7; k++) integrator->step(14);
        p[i++] = context.getState(State::Positions).getPositions();
    }
    EXPECT_EQ(p[0][0], p[1][0]);
    EXPECT_EQ(vae.getNumAttempted(), 0);
}

TEST(VAEMCIntegrator, StepsBetweenMovesCountAcrossCalls) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator integrator(kTemperature, 5.0, 0.004, s.bundle, 10, 3);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({positionOf(s, 0)});
    for (int k = 0; k < 25; k++) integrator.step(1);
    EXPECT_EQ(integrator.getNumAttempted(), 2 * 3);
    integrator.step(5);
    EXPECT_EQ(integrator.getNumAttempted(), 3 * 3);
    integrator.attemptMoves(4);
    EXPECT_EQ(integrator.getNumAttempted(), 3 * 3 + 4);
    integrator.resetStatistics();
    EXPECT_EQ(integrator.getNumAttempted(), 0);
    EXPECT_EQ(integrator.getNumAccepted(), 0);
}

TEST(VAEMCIntegrator, SeedsMakeRunsReproducible) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    auto make = [&](int moveSeed) {
        auto integrator = std::make_unique<VAEMCIntegrator>(kTemperature, 5.0, 0.004, s.bundle, 5, 2);
        integrator->setRandomNumberSeed(3);
        integrator->setMoveRandomNumberSeed(moveSeed);
        return integrator;
    };
    auto a = make(11), b = make(11), c = make(12);
    RunResult ra = runFrom(*system, *a, positionOf(s, 0), 50, 20), rb = runFrom(*system, *b, positionOf(s, 0), 50, 20),
        rc = runFrom(*system, *c, positionOf(s, 0), 50, 20);
    EXPECT_EQ(ra.positions[0], rb.positions[0]);
    EXPECT_EQ(ra.velocities[0], rb.velocities[0]);
    EXPECT_EQ(a->getNumAccepted(), b->getNumAccepted());
    EXPECT_EQ(a->getTermMeans(), b->getTermMeans());
    EXPECT_GT(a->getNumAccepted(), 0);
    EXPECT_NE(ra.positions[0], rc.positions[0]);
}

TEST(VAEMCIntegrator, XmlRoundTripGivesTheSameRun) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator a(310.0, 2.5, 0.003, s.bundle, 7, 2);
    a.setProposalBatchSize(5);
    a.setRandomNumberSeed(3);
    a.setMoveRandomNumberSeed(9);
    a.setConstraintTolerance(2e-6);
    std::stringstream xml;
    XmlSerializer::serialize<Integrator>(&a, "Integrator", xml);
    std::unique_ptr<Integrator> copy(XmlSerializer::deserialize<Integrator>(xml));
    VAEMCIntegrator* b = dynamic_cast<VAEMCIntegrator*>(copy.get());
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->getTemperature(), 310.0);
    EXPECT_EQ(b->getFriction(), 2.5);
    EXPECT_EQ(b->getStepSize(), 0.003);
    EXPECT_EQ(b->getStepsBetweenMoves(), 7);
    EXPECT_EQ(b->getMovesPerAttempt(), 2);
    EXPECT_EQ(b->getRandomNumberSeed(), 3);
    EXPECT_EQ(b->getMoveRandomNumberSeed(), 9);
    EXPECT_EQ(b->getProposalBatchSize(), 5);
    EXPECT_EQ(b->getConstraintTolerance(), 2e-6);
    EXPECT_EQ(b->getModelBytes(), a.getModelBytes());
    EXPECT_EQ(b->getAtoms(), a.getAtoms());
    RunResult ra = runFrom(*system, a, positionOf(s, 3), 70, 10), rb = runFrom(*system, *b, positionOf(s, 3), 70, 10);
    EXPECT_EQ(ra.positions[0], rb.positions[0]);
    EXPECT_EQ(ra.velocities[0], rb.velocities[0]);
    EXPECT_EQ(a.getNumAccepted(), b->getNumAccepted());
    EXPECT_GT(a.getNumAccepted(), 0);
    // XML of version 1 (before batched proposals) drew one proposal per move
    std::string v1 = xml.str();
    size_t at = v1.find("version=\"3\"");
    ASSERT_NE(at, std::string::npos);
    v1.replace(at, 11, "version=\"1\"");
    std::istringstream in(v1);
    std::unique_ptr<Integrator> old(XmlSerializer::deserialize<Integrator>(in));
    EXPECT_EQ(dynamic_cast<VAEMCIntegrator&>(*old).getProposalBatchSize(), 1);
}

TEST(VAEMCIntegrator, SameSeedAndBatchSizeGiveTheSameRun) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    for (int batch : {1, 3, 32}) {
        VAEMCIntegrator a(kTemperature, 5.0, 0.004, s.bundle, 5, 2), b(kTemperature, 5.0, 0.004, s.bundle, 5, 2);
        for (VAEMCIntegrator* i : {&a, &b}) {
            i->setProposalBatchSize(batch);
            i->setRandomNumberSeed(3);
            i->setMoveRandomNumberSeed(11);
        }
        RunResult ra = runFrom(*system, a, positionOf(s, 0), 50, 20), rb = runFrom(*system, b, positionOf(s, 0), 50, 20);
        EXPECT_EQ(ra.positions[0], rb.positions[0]) << "batch " << batch;
        EXPECT_EQ(ra.velocities[0], rb.velocities[0]) << "batch " << batch;
        EXPECT_EQ(a.getTermMeans(), b.getTermMeans()) << "batch " << batch;
        EXPECT_EQ(a.getNumAttempted(), 20 + 10 * 2);
        EXPECT_GT(a.getNumAccepted(), 0) << "batch " << batch;
    }
}

TEST(VAEMCIntegrator, BatProposalsArePlacedByARigidMotion) {
    // A proposal drawn on one reference and placed on another configuration is what the bundle's
    // positions_from_features builds on that configuration (external position and orientation
    // from it), and its internal coordinates are unchanged. The feature methods are those of an
    // alanine dipeptide bat bundle (all 22 atoms, bonds to hydrogen constrained).
    torch::jit::Module m = torch::jit::load(VAETest::dataPath("ala-bat-shuffled-hbonds.pt"));
    torch::manual_seed(3);
    const int rows = m.attr("bat_i").toIntList().size(), free = m.attr("bat_free_rows").toIntList().size(), count = 4;
    torch::Tensor f = torch::empty({count, m.attr("num_features").toInt()}, torch::kFloat64);
    f.slice(1, 0, 2 + free).uniform_(0.1, 0.15);
    f.slice(1, 2 + free, 3 + free + rows).uniform_(1.75, 2.05);
    f.slice(1, 3 + free + rows).uniform_(-M_PI, M_PI);
    auto build = [&](const torch::Tensor& features, const torch::Tensor& reference) {
        return m.get_method("positions_from_features")({features, reference}).toTensor();
    };
    torch::Tensor drawnOn = torch::randn({1, 22, 3}, torch::kFloat64), current = torch::randn({1, 22, 3}, torch::kFloat64);
    VAEMCProposalBatch batch;
    batch.decoded = f;
    batch.state = vaeMCState(m, build(f, drawnOn.expand({count, -1, -1})));
    for (int k = 0; k < count; k++) {
        torch::Tensor placed = placeVAEMCProposal(m, batch, k, drawnOn, current);
        torch::Tensor expected = build(f.narrow(0, k, 1), current);
        EXPECT_LT((placed - expected).abs().max().item<double>(), 1e-12) << "proposal " << k;
        VAEMCState moved = vaeMCState(m, placed);
        EXPECT_LT((moved.features - batch.state.features.narrow(0, k, 1)).abs().max().item<double>(), 1e-10);
        ASSERT_TRUE(std::isfinite(moved.logJacobian.item<double>()));
        EXPECT_NEAR(moved.logJacobian.item<double>(), batch.state.logJacobian[k].item<double>(), 1e-10);
        // on the configuration it was drawn on, a proposal is used as drawn
        EXPECT_TRUE(torch::equal(placeVAEMCProposal(m, batch, k, drawnOn, drawnOn), batch.state.positions.narrow(0, k, 1)));
    }
}

TEST(VAEMCIntegrator, CheckpointContinuesIdentically) {
  // buffered proposals are discarded by createCheckpoint and loadCheckpoint alike
  for (int batch : {1, 4}) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator integrator(kTemperature, 5.0, 0.004, s.bundle, 6, 2);
    integrator.setProposalBatchSize(batch);
    integrator.setRandomNumberSeed(1);
    integrator.setMoveRandomNumberSeed(2);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({positionOf(s, 5)});
    context.setVelocitiesToTemperature(kTemperature, 1);
    integrator.step(9);  // mid-way between two rounds of moves
    std::stringstream checkpoint;
    context.createCheckpoint(checkpoint);
    std::vector<Vec3> after[2];
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            checkpoint.seekg(0);
            context.loadCheckpoint(checkpoint);
        }
        integrator.step(40);
        integrator.attemptMoves(5);
        after[k] = context.getState(State::Positions | State::Velocities).getPositions();
    }
    EXPECT_EQ(after[0][0], after[1][0]) << "batch " << batch;
    EXPECT_GT(integrator.getNumAccepted(), 0) << "batch " << batch;
  }
}

TEST(VAEMCIntegrator, BadArgumentsAreRefused) {
    TrainedSystem& s = setupFor("mueller");
    EXPECT_NE(messageOf([&] { VAEMCIntegrator(-1.0, 1.0, 0.002, s.bundle); }).find("emperature"), std::string::npos);
    EXPECT_NE(messageOf([&] { VAEMCIntegrator(0.0, 1.0, 0.002, s.bundle); }).find("temperature"), std::string::npos);
    EXPECT_NE(messageOf([&] { VAEMCIntegrator(300.0, 1.0, 0.002, s.bundle, 0); }).find("stepsBetweenMoves"), std::string::npos);
    EXPECT_NE(messageOf([&] { VAEMCIntegrator(300.0, 1.0, 0.002, s.bundle, -5); }).find("-5"), std::string::npos);
    EXPECT_NE(messageOf([&] { VAEMCIntegrator(300.0, 1.0, 0.002, s.bundle, 10, -1); }).find("movesPerAttempt"), std::string::npos);
    EXPECT_NE(messageOf([&] { VAEMCIntegrator(300.0, 1.0, 0.002, "/nonexistent/bundle.pt"); }).find("/nonexistent/bundle.pt"),
              std::string::npos);
    VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, s.bundle);
    EXPECT_NE(messageOf([&] { integrator.attemptMoves(1); }).find("not bound"), std::string::npos);
    EXPECT_THROW(integrator.setStepsBetweenMoves(0), OpenMMException);
    EXPECT_THROW(integrator.setMovesPerAttempt(-2), OpenMMException);
    EXPECT_NE(messageOf([&] { integrator.setProposalBatchSize(0); }).find("batch size must be >= 1, got 0"), std::string::npos);
    std::unique_ptr<System> system(particleSystem("mueller"));
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({positionOf(s, 0)});
    EXPECT_NE(messageOf([&] { integrator.attemptMoves(-1); }).find("-1"), std::string::npos);
    EXPECT_THROW(integrator.step(-1), OpenMMException);
}

TEST(VAEMCIntegrator, BadBundlesAreRefused) {
    TrainedSystem& s = setupFor("mueller");
    // an atom beyond the System
    {
        VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, muellerBundleWithMetadata(metadata("xy", 1, nullptr, {3})));
        std::unique_ptr<System> system(particleSystem("mueller"));
        std::string m = messageOf([&] { Context context(*system, integrator, Platform::getPlatformByName("Reference")); });
        EXPECT_NE(m.find("atom 3"), std::string::npos) << m;
        // the refused Context left the integrator free: a System with 4 particles works
        System four;
        for (int i = 0; i < 4; i++) four.addParticle(1.0);
        four.addForce(new CustomExternalForce("x^2+y^2+z^2"));
        dynamic_cast<CustomExternalForce&>(four.getForce(0)).addParticle(3);
        Context context(four, integrator, Platform::getPlatformByName("Reference"));
        context.setPositions({Vec3(1, 0, 0), Vec3(0, 1, 0), Vec3(0, 0, 1), Vec3(0.1, 0.2, 0)});
        integrator.attemptMoves(3);
        EXPECT_EQ(integrator.getNumAttempted(), 3);
        std::vector<Vec3> p = context.getState(State::Positions).getPositions();
        EXPECT_EQ(p[0], Vec3(1, 0, 0));  // only atom 3 moves
        EXPECT_EQ(p[2], Vec3(0, 0, 1));
    }
    // cartesian features allow no exact move
    std::string m = messageOf([&] { VAEMCIntegrator(kTemperature, 1.0, 0.002, muellerBundleWithMetadata(metadata("cartesian", 1))); });
    EXPECT_NE(m.find("cartesian"), std::string::npos) << m;
    EXPECT_NE(m.find("science.md"), std::string::npos) << m;
    // raw-coordinate features of a constrained atom
    {
        VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, s.bundle);
        System system;
        system.addParticle(1.0);
        system.addParticle(1.0);
        system.addConstraint(0, 1, 0.1);
        std::string m = messageOf([&] { Context context(system, integrator, Platform::getPlatformByName("Reference")); });
        EXPECT_NE(m.find("constrains atoms 0 and 1"), std::string::npos) << m;
    }
    // a model that is not a trainer bundle
    m = messageOf([&] { VAEMCIntegrator(kTemperature, 1.0, 0.002, VAETest::analyticModel(metadata("xy", 1))); });
    EXPECT_NE(m.find("has no method"), std::string::npos) << m;
}

TEST(VAEMCIntegrator, OtherTrainingTemperatureWarns) {
    std::unique_ptr<System> system(particleSystem("mueller"));
    for (double trained : {350.0, 301.0}) {
        VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, muellerBundleWithMetadata(metadata("xy", 1, trained)));
        testing::internal::CaptureStderr();
        { Context context(*system, integrator, Platform::getPlatformByName("Reference")); }
        std::string err = testing::internal::GetCapturedStderr();
        if (trained == 350.0) {
            EXPECT_NE(err.find("Warning"), std::string::npos) << err;
            EXPECT_NE(err.find("350 K"), std::string::npos) << err;
        } else
            EXPECT_EQ(err.find("Warning"), std::string::npos) << err;  // within 1 %
    }
}

TEST(VAEMCIntegrator, NonFinitePositionsAreRefusedAndTheContextStaysUsable) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, s.bundle);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({Vec3(std::nan(""), 0.1, 0.0)});
    std::string m = messageOf([&] { integrator.attemptMoves(2); });
    EXPECT_NE(m.find("particle 0"), std::string::npos) << m;
    EXPECT_EQ(integrator.getNumAttempted(), 0);
    context.setPositions({positionOf(s, 0)});
    integrator.attemptMoves(20);
    State state = context.getState(State::Positions | State::Energy);
    EXPECT_TRUE(std::isfinite(state.getPotentialEnergy()));
    EXPECT_EQ(integrator.getNumAttempted(), 20);
}

TEST(VAEMCIntegrator, OtherPlatformsAgreeWithReference) {
    VAETest::loadPlugins();
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    auto make = [&] {
        auto integrator = std::make_unique<VAEMCIntegrator>(kTemperature, 5.0, 0.004, s.bundle, 10, 1);
        integrator->setMoveRandomNumberSeed(21);
        return integrator;
    };
    auto reference = make();
    const Vec3 start(-0.55, 1.44, 0.0);  // the deepest basin: moves there are accepted
    RunResult expected = runFrom(*system, *reference, start, 0, 30);
    ASSERT_GT(reference->getNumAccepted(), 0) << "the comparison needs accepted moves";
    int tested = 0;
    for (std::string name : {"CPU", "OpenCL"}) {
        Platform* platform;
        try {
            platform = &Platform::getPlatformByName(name);
        } catch (const OpenMMException&) {
            std::cout << "[vae-mc-integrator] platform " << name << " not available\n";
            continue;
        }
        (void) platform;
        auto integrator = make();
        RunResult run;
        try {
            run = runFrom(*system, *integrator, start, 0, 30, name);
        } catch (const OpenMMException& e) {
            std::cout << "[vae-mc-integrator] platform " << name << " cannot create a Context: " << e.what() << "\n";
            continue;
        }
        tested++;
        // the same proposals and, with energies equal to single precision, the same decisions
        EXPECT_EQ(integrator->getNumAccepted(), reference->getNumAccepted()) << name;
        for (int d = 0; d < 2; d++) EXPECT_NEAR(run.positions[0][d], expected.positions[0][d], 1e-5) << name;
        // and mixed dynamics runs
        auto mixed = make();
        Context context(*system, *mixed, Platform::getPlatformByName(name));
        context.setPositions({start});
        mixed->step(100);
        EXPECT_EQ(mixed->getNumAttempted(), 10) << name;
        EXPECT_TRUE(std::isfinite(context.getState(State::Energy).getPotentialEnergy())) << name;
        std::cout << "[vae-mc-integrator] platform " << name << ": 30 pure moves agree with Reference ("
                  << reference->getNumAccepted() << " accepted); 100 mixed steps run\n";
    }
    if (tested == 0) GTEST_SKIP() << "neither CPU nor OpenCL available";
}

TEST(VAEMCIntegrator, NativeStateDensitiesGiveTheTorchScriptRun) {
    // The state-side ln q(z|x), ln P(z), ln P(x|z) of each move of the TorchScript path are evaluated
    // natively when the bundle allows it. With one proposal per batch both paths draw the same random numbers, so the runs
    // agree move for move: a condind bundle (L = 1, Mueller) and an autoregressive one (L = 2,
    // periodic theta, beltway).
    TrainedSystem& mueller = setupFor("mueller");
    static TrainedSystem beltway;
    if (beltway.bundle.empty()) {
        beltway.name = "beltway-rtheta";
        beltway.samples = VAETest::toySamples(beltway.name, 4000, 11);
        beltway.bundle = VAETest::dataBytes("beltway-polar-autoregressive.pt");  // 11 epochs: as many Adam steps as before
    }
    for (TrainedSystem* s : {&mueller, &beltway}) {
        const std::string name = s == &mueller ? "mueller" : "beltway";
        SCOPED_TRACE(name);
        std::unique_ptr<System> system(particleSystem(name));
        VAEMCIntegrator native(kTemperature, 5.0, 0.004, s->bundle, 5, 3), script(kTemperature, 5.0, 0.004, s->bundle, 5, 3),
            probe(kTemperature, 5.0, 0.004, s->bundle, 5, 3);
        {
            Context c(*system, probe, Platform::getPlatformByName("Reference"));
            EXPECT_TRUE(VAEMCIntegratorTestAccess::usesNativeDensities(probe));
            VAEMCIntegratorTestAccess::setNativeDensities(probe, false);
            EXPECT_FALSE(VAEMCIntegratorTestAccess::usesNativeDensities(probe));
        }
        for (VAEMCIntegrator* i : {&native, &script}) {
            i->setProposalBatchSize(1);
            i->setRandomNumberSeed(3);
            i->setMoveRandomNumberSeed(17);
            VAEMCIntegratorTestAccess::setNativeMoves(*i, false);  // TorchScript proposals: the same random numbers
        }
        VAEMCIntegratorTestAccess::setNativeDensities(script, false);
        // one Context after the other: the Reference platform's Langevin noise is one stream per process
        RunResult a = runFrom(*system, native, positionOf(*s, 0), 100, 0), b = runFrom(*system, script, positionOf(*s, 0), 100, 0);
        EXPECT_EQ(native.getNumAttempted(), 60);
        EXPECT_GT(native.getNumAccepted(), 3);
        EXPECT_EQ(native.getNumAccepted(), script.getNumAccepted());
        EXPECT_LT((a.positions[0] - b.positions[0]).dot(a.positions[0] - b.positions[0]), 1e-18);
        for (int k = 0; k < kVAEMCNumTerms; k++)
            EXPECT_NEAR(native.getTermMeans()[k], script.getTermMeans()[k], 1e-9) << vaeMCTermNames()[k];
    }
}

// ---- move kinds (full, torsion), per-kind statistics, constrained bond lengths (issue 20) ----

TEST(VAEMCIntegrator, MoveProbabilitiesAreCheckedAndNormalised) {
    TrainedSystem& s = setupFor("mueller");
    VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, s.bundle);
    EXPECT_EQ(integrator.getFullMoveProbability(), 1.0);
    EXPECT_EQ(integrator.getTorsionMoveProbability(), 0.0);
    EXPECT_EQ(VAEMCIntegrator::getMoveKindNames(), (std::vector<std::string>{"full", "torsion"}));
    std::string m = messageOf([&] { integrator.setMoveProbabilities(-0.5, 1.0); });
    EXPECT_NE(m.find("-0.5"), std::string::npos) << m;
    m = messageOf([&] { integrator.setMoveProbabilities(1.0, std::nan("")); });
    EXPECT_NE(m.find("finite"), std::string::npos) << m;
    m = messageOf([&] { integrator.setMoveProbabilities(0.0, 0.0); });
    EXPECT_NE(m.find("positive sum"), std::string::npos) << m;
    // torsion moves need bat features: refused at once for xy
    m = messageOf([&] { integrator.setMoveProbabilities(1.0, 1.0); });
    EXPECT_NE(m.find("bat features"), std::string::npos) << m;
    EXPECT_NE(m.find("xy"), std::string::npos) << m;
    EXPECT_EQ(integrator.getTorsionMoveProbability(), 0.0);  // unchanged by a refusal
    integrator.setMoveProbabilities(3.0, 0.0);
    EXPECT_EQ(integrator.getFullMoveProbability(), 1.0);
    // per-kind counters: an unknown kind is named
    m = messageOf([&] { integrator.getNumAttempted("rotation"); });
    EXPECT_NE(m.find("rotation"), std::string::npos) << m;
    // a bat bundle takes any normalised mix until a Context says whether torsion moves are possible
    VAEMCIntegrator bat(kTemperature, 1.0, 0.002, VAETest::dataBytes("ala-bat-shuffled-hbonds.pt"));
    bat.setMoveProbabilities(3.0, 1.0);
    EXPECT_DOUBLE_EQ(bat.getFullMoveProbability(), 0.75);
    EXPECT_DOUBLE_EQ(bat.getTorsionMoveProbability(), 0.25);
}

namespace {

/** An alanine System (22 particles, no force: U = 0) constraining the bundle's constrained bonds at its lengths + `shift` nm. */
System* alanineConstraintSystem(const VAEModelBundle& bundle, double shift) {
    System* system = new System();
    for (int i = 0; i < 22; i++) system->addParticle(i == 0 ? 1.008 : 12.0);
    for (const auto& bond : bundle.getMetadata()["features"]["constrained_bonds"])
        system->addConstraint(bond[0].get<int>(), bond[1].get<int>(), bond[2].get<double>() + shift);
    return system;
}

/** A configuration of the ala bat bundle (alanine atom order) drawn from its own decoder: typical for its proposals. */
std::vector<Vec3> alanineFromDecoder(const std::string& path, int seed) {
    torch::jit::Module m = torch::jit::load(path);
    m.to(torch::kFloat64);
    torch::manual_seed(seed);
    const int L = m.hasattr("latent") ? m.attr("latent").toInt() : m.attr("model").toModule().attr("latent").toInt();
    const int D = m.attr("num_features").toInt();
    torch::NoGradGuard noGrad;
    torch::Tensor z = m.get_method("prior_sample")({torch::randn({1, L}, torch::kFloat64)}).toTensor();
    torch::Tensor x = m.get_method("decoder_sample")({z, torch::rand({1, D}, torch::kFloat64)}).toTensor();
    torch::Tensor p = m.get_method("positions_from_features")({x, torch::randn({1, 22, 3}, torch::kFloat64)}).toTensor();
    VAECVForce force(path);
    std::vector<Vec3> result(22);
    for (int k = 0; k < 22; k++)
        result[force.getAtoms()[k]] = Vec3(p[0][k][0].item<double>(), p[0][k][1].item<double>(), p[0][k][2].item<double>());
    return result;
}

} // namespace

TEST(VAEMCIntegrator, AcceptedBatProposalsHaveTheSystemsConstraintLengths) {
    // The System's constraint lengths differ from the bundle's by 5e-5 nm (within the 1e-4 nm the
    // bundle check allows): accepted proposals put the constrained bonds at the System's lengths, on
    // the TorchScript path and (where the bundle allows it) the native one. U = 0, so moves are
    // accepted from a configuration typical of the decoder.
    const std::string path = VAETest::dataPath("ala-bat-shuffled-hbonds.pt");
    std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(path);
    std::unique_ptr<System> system(alanineConstraintSystem(*bundle, 5e-5));
    ASSERT_EQ(system->getNumConstraints(), 12);
    for (bool native : {false, true}) {
        SCOPED_TRACE(native ? "native moves" : "TorchScript moves");
        VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, path);
        integrator.setMoveRandomNumberSeed(3);
        VAEMCIntegratorTestAccess::setNativeMoves(integrator, native);
        Context context(*system, integrator, Platform::getPlatformByName("Reference"));
        if (native && !VAEMCIntegratorTestAccess::usesNativeMoves(integrator)) {
            std::cout << "[vae-mc-integrator] the ala bat bundle has no native moves: native path not checked\n";
            continue;
        }
        context.setPositions(alanineFromDecoder(path, 7));
        // this one-epoch bundle accepts a few per cent of its proposals
        while (integrator.getNumAccepted() == 0 && integrator.getNumAttempted() < 2000)
            integrator.attemptMoves(50);
        std::cout << "[vae-mc-integrator] ala bat, U = 0: " << integrator.getNumAccepted() << " of "
                  << integrator.getNumAttempted() << " accepted\n";
        ASSERT_GT(integrator.getNumAccepted(), 0);
        std::vector<Vec3> p = context.getState(State::Positions).getPositions();
        for (int k = 0; k < system->getNumConstraints(); k++) {
            int a, b;
            double length;
            system->getConstraintParameters(k, a, b, length);
            EXPECT_NEAR(std::sqrt((p[a] - p[b]).dot(p[a] - p[b])), length, 1e-12) << "constraint " << k;
        }
    }
}

TEST(VAEMCIntegrator, TorsionMovesNeedAnAutoregressiveBatBundle) {
    // ala-bat-shuffled-hbonds.pt has a condind decoder: no conditional of the torsions. Refused when
    // the Context is created (the integrator stays free for another Context) and on a bound integrator.
    const std::string path = VAETest::dataPath("ala-bat-shuffled-hbonds.pt");
    std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(path);
    std::unique_ptr<System> system(alanineConstraintSystem(*bundle, 0.0));
    VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, path);
    integrator.setMoveProbabilities(0.5, 0.5);
    std::string m = messageOf([&] { Context context(*system, integrator, Platform::getPlatformByName("Reference")); });
    EXPECT_NE(m.find("torsion moves need"), std::string::npos) << m;
    EXPECT_TRUE(m.find("autoregressive") != std::string::npos || m.find("native densities") != std::string::npos) << m;
    integrator.setMoveProbabilities(1.0, 0.0);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    m = messageOf([&] { integrator.setMoveProbabilities(1.0, 1.0); });
    EXPECT_NE(m.find("torsion moves need"), std::string::npos) << m;
    EXPECT_EQ(integrator.getTorsionMoveProbability(), 0.0);
}

TEST(VAEMCIntegrator, XmlKeepsTheMoveProbabilities) {
    VAEMCIntegrator a(kTemperature, 1.0, 0.002, VAETest::dataBytes("ala-bat-shuffled-hbonds.pt"));
    a.setMoveProbabilities(0.7, 0.3);
    std::stringstream xml;
    XmlSerializer::serialize<Integrator>(&a, "Integrator", xml);
    std::unique_ptr<Integrator> copy(XmlSerializer::deserialize<Integrator>(xml));
    VAEMCIntegrator& b = dynamic_cast<VAEMCIntegrator&>(*copy);
    EXPECT_EQ(b.getFullMoveProbability(), a.getFullMoveProbability());
    EXPECT_EQ(b.getTorsionMoveProbability(), a.getTorsionMoveProbability());
    // XML of version 2 (before torsion moves) makes full moves only
    std::string v2 = xml.str();
    size_t at = v2.find("version=\"3\"");
    ASSERT_NE(at, std::string::npos);
    v2.replace(at, 11, "version=\"2\"");
    std::istringstream in(v2);
    std::unique_ptr<Integrator> old(XmlSerializer::deserialize<Integrator>(in));
    EXPECT_EQ(dynamic_cast<VAEMCIntegrator&>(*old).getTorsionMoveProbability(), 0.0);
    EXPECT_EQ(dynamic_cast<VAEMCIntegrator&>(*old).getFullMoveProbability(), 1.0);
}

TEST(VAEMCIntegrator, CheckpointRestoresTheCountersOfEachKind) {
    TrainedSystem& s = setupFor("mueller");
    std::unique_ptr<System> system(particleSystem("mueller"));
    VAEMCIntegrator integrator(kTemperature, 5.0, 0.004, s.bundle, 6, 2);
    integrator.setMoveRandomNumberSeed(2);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    context.setPositions({positionOf(s, 5)});
    integrator.attemptMoves(30);
    const long long attempted = integrator.getNumAttempted("full"), accepted = integrator.getNumAccepted("full");
    const std::vector<double> means = integrator.getTermMeans("full");
    ASSERT_GT(accepted, 0);
    std::stringstream checkpoint;
    context.createCheckpoint(checkpoint);
    integrator.attemptMoves(20);
    EXPECT_EQ(integrator.getNumAttempted("full"), 50);
    checkpoint.seekg(0);
    context.loadCheckpoint(checkpoint);
    EXPECT_EQ(integrator.getNumAttempted("full"), attempted);
    EXPECT_EQ(integrator.getNumAccepted("full"), accepted);
    EXPECT_EQ(integrator.getTermMeans("full"), means);
    EXPECT_EQ(integrator.getNumAttempted("torsion"), 0);
    EXPECT_EQ(integrator.getNumAttempted(), attempted);
    EXPECT_EQ(integrator.getTermMeans(), means);
}
