// VAEMCIntegrator: exactness in OpenMM (a particle on the Mueller surface and on the beltway sampled by
// VAE moves reproduces the Boltzmann histogram; the same check fails with a term of ln alpha dropped),
// mixed Langevin + MC, serialization, checkpoints and seeds, bad input, other platforms. The exactness
// checks run with batched proposals (the default batch size) and with one proposal per batch.

#include "TestHelpers.h"  // tests/trainer/metrics: poorBundle, chiSquare, passes
#include "TestModels.h"   // tests/cpp/common: archiveBytes, loadPlugins
#include "Dataset.h"
#include "MolecularFeatures.h"
#include "VAEModelBuilder.h"
#include "VAEMCProposals.h"
#include "VAEMCStatistics.h"
#include "VAEMCIntegrator.h"
#include "VAEMCIntegratorTestAccess.h"
#include "openmm/Context.h"
#include "openmm/CustomExternalForce.h"
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
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;
using namespace VAEPlugin::testing_helpers;

namespace {

const int kThreads = setUpThreads();
const double kTemperature = 300.0;
const double kT = 1.380649e-23 * 6.02214076e23 / 1000.0 * kTemperature;  // kJ/mol

/** A 2-D system, its data and a briefly trained bundle (archive bytes) for atom 0. */
struct TrainedSystem {
    std::unique_ptr<System2D> system;
    torch::Tensor data;
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
    s.system = makeSystem(name);
    s.data = s.system->sample(4000, 11);
    torch::jit::Module bundle = poorBundle(s.system->featureKind(), s.data, 300, 11);
    s.bundle = VAETest::archiveBytes(bundle, metadata(s.system->featureKind(), 1));
    return cache.emplace(name, std::move(s)).first->second;
}

/** The system's U(x, y) (in kT) times kT as an OpenMM expression, plus a stiff harmonic restraint on z. */
std::string energyExpression(const std::string& name) {
    std::ostringstream e;
    e.precision(17);
    if (name == "mueller") {
        const double A[] = {-200, -100, -170, 15}, a[] = {-1, -1, -6.5, 0.7}, b[] = {0, 0, 11, 0.6},
                     c[] = {-10, -10, -6.5, 0.7}, X[] = {1, 0, -0.5, -1}, Y[] = {0, 0.5, 1.5, 1};
        e << kT << "*0.1*(";
        for (int j = 0; j < 4; j++)
            e << (j ? "+" : "") << A[j] << "*exp(" << a[j] << "*(x-(" << X[j] << "))^2+" << b[j] << "*(x-(" << X[j]
              << "))*(y-(" << Y[j] << "))+" << c[j] << "*(y-(" << Y[j] << "))^2)";
        e << ")";
    } else {  // beltway: U_xy = -ln p(r) + ln 2 pi + ln r, p = 0.5 Gamma(40, 40) + 0.5 Gamma(160, 80)
        const double lc1 = 40 * std::log(40.0) - std::lgamma(40.0), lc2 = 160 * std::log(80.0) - std::lgamma(160.0);
        e << kT << "*(-log(0.5*exp(" << lc1 << "+39*log(r)-40*r)+0.5*exp(" << lc2 << "+159*log(r)-80*r))+"
          << std::log(2 * M_PI) << "+log(r))+500*z^2; r=sqrt(x^2+y^2)";
        return e.str();
    }
    return e.str() + "+500*z^2";
}

/** One particle of mass 10 amu in the system's potential (scaled to kJ/mol at 300 K). */
System* particleSystem(const std::string& name) {
    System* system = new System();
    system->addParticle(10.0);
    CustomExternalForce* force = new CustomExternalForce(energyExpression(name));
    force->addParticle(0);
    system->addForce(force);
    return system;
}

/** chi2 of configurations (rows x, y) against exp(-U) in the system's feature space. */
double chiSquareOf(const TrainedSystem& s, const torch::Tensor& xy, int* dof) {
    const System2D& sys = *s.system;
    if (sys.featureKind() == "polar") {
        torch::Tensor x = xy.select(1, 0), y = xy.select(1, 1);
        torch::Tensor f = torch::stack({torch::sqrt(x * x + y * y), torch::atan2(y, x)}, 1);
        return chiSquare(f, [&](double rr, double th) { return -sys.energy(rr * std::cos(th), rr * std::sin(th)) + std::log(rr); },
                         0.0, 3.2, 16, -M_PI, M_PI, 4, dof);
    }
    return chiSquare(xy, [&](double x, double y) { return -sys.energy(x, y); }, -1.5, 1.2, 12, -0.5, 2.0, 12, dof);
}

Vec3 positionOf(const TrainedSystem& s, int row) {
    double a = s.data[row][0].item<double>(), b = s.data[row][1].item<double>();
    if (s.system->featureKind() == "polar") return Vec3(a * std::cos(b), a * std::sin(b), 0.0);
    return Vec3(a, b, 0.0);
}

/**
 * Chains of pure VAE-MC (attemptMoves) of one particle in one Context: chain k starts at the k-th
 * Boltzmann sample of the data set and makes `moves` moves; its final configuration is one sample.
 * Samples are independent, so chi2 against the exact histogram has its nominal distribution when
 * the move keeps exp(-BU) invariant, and is large when it does not (the chains move: acceptance > 0).
 */
double pureMonteCarlo(const std::string& name, const std::array<double, kVAEMCNumTerms>& weights, int chains,
                      int moves, int* dof, double* acceptance, int batchSize = 0) {
    TrainedSystem& s = setupFor(name);
    std::unique_ptr<System> system(particleSystem(name));
    VAEMCIntegrator integrator(kTemperature, 1.0, 0.002, s.bundle);
    if (batchSize > 0) integrator.setProposalBatchSize(batchSize);
    integrator.setMoveRandomNumberSeed(5);
    VAEMCIntegratorTestAccess::setTermWeights(integrator, weights);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    torch::Tensor xy = torch::empty({chains, 2}, torch::kFloat64);
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < chains; k++) {
        context.setPositions({positionOf(s, k)});
        integrator.attemptMoves(moves);
        Vec3 p = context.getState(State::Positions).getPositions()[0];
        xy[k][0] = p[0];
        xy[k][1] = p[1];
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double chi2 = chiSquareOf(s, xy, dof);
    *acceptance = integrator.getAcceptanceRate();
    std::cout << "[vae-mc-integrator] " << name << " weights {" << weights[0] << "," << weights[1] << "," << weights[2]
              << "," << weights[3] << "," << weights[4] << "} batch " << integrator.getProposalBatchSize() << ", " << chains << " chains x " << moves << " moves in "
              << secs << " s: acceptance " << *acceptance << " rejected invalid " << integrator.getNumRejectedInvalid()
              << " chi2 " << chi2 << " dof " << *dof << "\n";
    for (int k = 0; k < kVAEMCNumTerms; k++)
        std::cout << "    term " << VAEMCIntegrator::getTermNames()[k] << ": mean " << integrator.getTermMeans()[k]
                  << " std " << integrator.getTermStds()[k] << "\n";
    return chi2;
}

const int kChains = 1500, kMoves = 3;

} // namespace

TEST(VAEMCIntegrator, EnergyExpressionsAreTheSystems) {
    // the OpenMM potential is the trainer's U(x, y) in kT (otherwise the histogram tests mean nothing)
    for (std::string name : {"mueller", "beltway-rtheta"}) {
        std::unique_ptr<System> system(particleSystem(name));
        VerletIntegrator verlet(0.001);
        Context context(*system, verlet, Platform::getPlatformByName("Reference"));
        auto sys = makeSystem(name);
        for (Vec3 p : {Vec3(0.3, 0.4, 0.0), Vec3(-0.6, 1.4, 0.0), Vec3(0.9, -0.1, 0.0), Vec3(1.2, 0.8, 0.0)}) {
            context.setPositions({p});
            double u = context.getState(State::Energy).getPotentialEnergy() / kT;
            EXPECT_NEAR(u, sys->energy(p[0], p[1]), 1e-9 * (1 + std::abs(u))) << name << " at " << p;
        }
    }
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactly) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("mueller", {1, 1, 1, 1, 1}, kChains, kMoves, &dof, &acceptance);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
    EXPECT_GT(acceptance, 0.05);
    EXPECT_LT(acceptance, 1.0);
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactlyOneProposalPerBatch) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("mueller", {1, 1, 1, 1, 1}, kChains, kMoves, &dof, &acceptance, 1);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
    EXPECT_GT(acceptance, 0.05);
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesMuellerExactlyWithBatchesSpanningChains) {
    // 7 does not divide the 3 moves of a chain: batches of proposals are used across chains, whose
    // starting points are set between calls
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("mueller", {1, 1, 1, 1, 1}, kChains, kMoves, &dof, &acceptance, 7);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
    EXPECT_GT(acceptance, 0.05);
}

TEST(VAEMCIntegrator, MuellerCheckFailsWithATermDropped) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("mueller", {1, 1, 1, 0, 1}, kChains, kMoves, &dof, &acceptance);  // ln P(x|z) dropped
    EXPECT_FALSE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesBeltwayPolarExactly) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("beltway-rtheta", {1, 1, 1, 1, 1}, kChains, kMoves, &dof, &acceptance);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
    EXPECT_GT(acceptance, 0.05);
}

TEST(VAEMCIntegrator, PureMonteCarloSamplesBeltwayPolarExactlyOneProposalPerBatch) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("beltway-rtheta", {1, 1, 1, 1, 1}, kChains, kMoves, &dof, &acceptance, 1);
    EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
    EXPECT_GT(acceptance, 0.05);
}

TEST(VAEMCIntegrator, BeltwayCheckFailsWithoutJacobian) {
    int dof;
    double acceptance;
    double chi2 = pureMonteCarlo("beltway-rtheta", {1, 1, 1, 1, 0}, kChains, kMoves, &dof, &acceptance);  // ln J dropped
    EXPECT_FALSE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
}

namespace {

/** The state after `steps` Langevin steps (with their moves) and then `moves` pure moves from one start. */
struct RunResult {
    std::vector<Vec3> positions, velocities;
    long long accepted;
};

RunResult runFrom(System& system, VAEMCIntegrator& integrator, const Vec3& start, int steps, int moves,
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

template <class F>
std::string messageOf(F f) {
    try {
        f();
    } catch (const OpenMMException& e) {
        return e.what();
    }
    return "(no OpenMMException)";
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
    torch::Tensor xy = torch::empty({chains, 2}, torch::kFloat64);
    for (int k = 0; k < chains; k++) {
        context.setPositions({positionOf(s, 2000 + k)});
        context.setVelocitiesToTemperature(kTemperature, k + 1);
        integrator.step(100);
        Vec3 p = context.getState(State::Positions).getPositions()[0];
        xy[k][0] = p[0];
        xy[k][1] = p[1];
    }
    int dof;
    double chi2 = chiSquareOf(s, xy, &dof);
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
    size_t at = v1.find("version=\"2\"");
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

namespace {

// Alanine dipeptide (Ace-Ala-Nme) in AMBER atom order: elements and bonds (for a bat feature module).
const std::vector<std::string> kAlanineElements = {"H", "C", "H", "H", "C", "O", "N", "H", "C", "H", "C",
                                                   "H", "H", "H", "C", "O", "N", "H", "C", "H", "H", "H"};
const std::vector<std::pair<int, int>> kAlanineBonds = {
    {0, 1}, {1, 2}, {1, 3}, {1, 4}, {4, 5}, {4, 6}, {6, 7}, {6, 8}, {8, 9}, {8, 10}, {8, 14},
    {10, 11}, {10, 12}, {10, 13}, {14, 15}, {14, 16}, {16, 17}, {16, 18}, {18, 19}, {18, 20}, {18, 21}};

} // namespace

TEST(VAEMCIntegrator, BatProposalsArePlacedByARigidMotion) {
    // A proposal drawn on one reference and placed on another configuration is what the bundle's
    // positions_from_features builds on that configuration (external position and orientation
    // from it), and its internal coordinates are unchanged.
    std::vector<int> all(22);
    for (int i = 0; i < 22; i++) all[i] = i;
    BatTree tree = buildBatTree(all, kAlanineElements, kAlanineBonds, "none");
    FeatureSpec spec = FeatureSpec::makeBat(all, tree, "none");
    torch::jit::Module m = makeFeatureModule(spec);
    torch::manual_seed(3);
    const int rows = tree.rows.size(), free = tree.numFreeBonds(), count = 4;
    torch::Tensor f = torch::empty({count, spec.numFeatures()}, torch::kFloat64);
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
    RunResult expected = runFrom(*system, *reference, positionOf(s, 9), 0, 30);
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
            run = runFrom(*system, *integrator, positionOf(s, 9), 0, 30, name);
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
        context.setPositions({positionOf(s, 9)});
        mixed->step(100);
        EXPECT_EQ(mixed->getNumAttempted(), 10) << name;
        EXPECT_TRUE(std::isfinite(context.getState(State::Energy).getPotentialEnergy())) << name;
        std::cout << "[vae-mc-integrator] platform " << name << ": 30 pure moves agree with Reference ("
                  << reference->getNumAccepted() << " accepted); 100 mixed steps run\n";
    }
    if (tested == 0) GTEST_SKIP() << "neither CPU nor OpenCL available";
}

TEST(VAEMCIntegrator, NativeStateDensitiesGiveTheTorchScriptRun) {
    // The state-side ln q(z|x), ln P(z), ln P(x|z) of each move are evaluated natively when the bundle
    // allows it. With one proposal per batch both paths draw the same random numbers, so the runs
    // agree move for move: a condind bundle (L = 1, Mueller) and an autoregressive one (L = 2,
    // periodic theta, beltway).
    TrainedSystem& mueller = setupFor("mueller");
    static TrainedSystem beltway;
    if (beltway.bundle.empty()) {
        beltway.system = makeSystem("beltway-rtheta");
        beltway.data = beltway.system->sample(4000, 11);
        torch::jit::Module bundle = poorBundle("polar", beltway.data, 200, 11, 2, "autoregressive");
        beltway.bundle = VAETest::archiveBytes(bundle, metadata("polar", 2));
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
