#ifndef OPENMM_VAE_VAECVFORCE_TESTS_H_
#define OPENMM_VAE_VAECVFORCE_TESTS_H_

// The VAECVForce tests of every platform, written once (as OpenMM writes its own platform tests):
// each platform's file (tests/cpp/platforms/<platform>) includes this header and instantiates
// VAECVForcePlatformTest with its cases, one per precision, and the capability flags below. Bundles
// are the small files of tests/data (tests/data/generate); results are checked against the
// Reference platform's TorchScript evaluation in double precision, against finite differences and
// against the restraint formula.

#include "AlanineBundles.h"
#include "LatentGrid.h"
#include "TestData.h"
#include "TestModels.h"
#include "TestSupport.h"
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/CustomCVForce.h"
#include "openmm/HarmonicAngleForce.h"
#include "openmm/HarmonicBondForce.h"
#include "openmm/NonbondedForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <gtest/gtest.h>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

namespace VAETest {

/** One platform at one precision, and what it can do. */
struct PlatformCase {
    std::string name;                                         ///< test-name suffix, e.g. "Single"
    std::string platform;                                     ///< Reference, CPU, OpenCL, CUDA
    std::string precision;                                    ///< single, mixed or double
    std::map<std::string, std::string> platformProperties;    ///< the GPU platforms' Precision
    std::map<std::string, std::string> forceProperties;       ///< Reference and CPU: the force's Precision
    std::string implementation;                               ///< getImplementationInContext for a trainer bundle
    double tolerance;                                         ///< relative, against Reference TorchScript in double
    double forceFloor = 0;                                    ///< absolute force tolerance (fixed-point buffers)
    bool primary = false;                                     ///< runs the precision-independent tests (one case per platform)
    bool torchScriptModels = false;                           ///< runs any TorchScript module (else refuses non-trainer bundles)
    bool gridBias = false;                                    ///< supports useGridBias (else refuses it)
    bool molecularFeatures = false;                           ///< evaluates cartesian and bat bundles natively
    bool longRuns = false;                                    ///< 10 ps NVE runs are affordable (not on PoCL)
    bool workGroupProperties = false;                         ///< the device kernels' WorkGroupSize and ThreadsPerOutput
    bool doublePrecision() const {
        return precision == "double";
    }
};

inline void PrintTo(const PlatformCase& c, std::ostream* os) {
    *os << c.platform << " " << c.name;
}

/**
 * A case of the common device kernels (OpenCL, CUDA) at a platform Precision. Tolerances against
 * Reference: double 1e-9 relative, plus 4 x 2^-32 kJ/mol/nm on forces, which pass through OpenMM's
 * fixed-point force buffer; single and mixed 2e-4 relative (the encoder runs in float32 there, as
 * OpenMM's own kernels do). The device kernels run trainer bundles of xy, polar and positions
 * features only, and no grid bias.
 */
inline PlatformCase deviceCase(const std::string& platform, const std::string& precision) {
    PlatformCase c;
    c.name = std::string(1, std::toupper(precision[0])) + precision.substr(1);
    c.platform = platform;
    c.precision = precision;
    c.platformProperties = {{"Precision", precision}};
    c.implementation = "native-" + precision;
    c.tolerance = precision == "double" ? 1e-9 : 2e-4;
    c.forceFloor = 4.0 / 4294967296.0;
    c.primary = precision == "single";
    c.workGroupProperties = true;
    return c;
}

/**
 * A case of the Reference or CPU platform (the native evaluator, or TorchScript for other modules)
 * at the force's Precision property. The native double evaluator repeats TorchScript's arithmetic up
 * to rounding (1e-10); single precision runs the MLP in float32 (1e-4). The Reference platform
 * chooses the native evaluator by default; the CPU cases ask for it.
 */
inline PlatformCase hostCase(const std::string& platform, const std::string& precision) {
    PlatformCase c;
    c.name = precision == "double" ? "Double" : "Single";
    c.platform = platform;
    c.precision = precision;
    c.forceProperties = {{"Precision", precision}};
    if (platform == "CPU")
        c.forceProperties["Implementation"] = "native";
    c.implementation = "native-" + precision;
    c.tolerance = precision == "double" ? 1e-10 : 1e-4;
    c.primary = precision == (platform == "CPU" ? "single" : "double");
    c.torchScriptModels = true;
    c.gridBias = true;
    c.molecularFeatures = true;
    c.longRuns = platform == "Reference";
    return c;
}

/** "Reference" -> OPENMMVAE_REQUIRE_REFERENCE: set on machines where the platform must exist. */
inline std::string requireVariable(const std::string& platform) {
    std::string upper;
    for (char ch : platform)
        upper += std::toupper(ch);
    return "OPENMMVAE_REQUIRE_" + upper;
}

/**
 * Empty if the platform is registered here, else why not. (OpenMM registers OpenCL and CUDA only
 * where a device exists; no Context is created here, since PoCL compiles OpenMM's programs for
 * each one and most tests of most cases skip.)
 */
inline std::string whyNoPlatform(const PlatformCase& c) {
    loadPlugins();
    for (int i = 0; i < OpenMM::Platform::getNumPlatforms(); i++)
        if (OpenMM::Platform::getPlatform(i).getName() == c.platform)
            return "";
    return "the " + c.platform + " platform is not available here";
}

/** The case's force properties, or (c == nullptr) the Reference platform's exact TorchScript evaluation. */
inline void applyProperties(VAEPlugin::VAECVForce& force, const PlatformCase* c) {
    if (c == nullptr)
        force.setProperty("Implementation", "torchscript");
    else
        for (const auto& p : c->forceProperties)
            force.setProperty(p.first, p.second);
}

/** A Context of `system` on the case's platform (or on Reference). */
struct PlatformContext {
    OpenMM::VerletIntegrator integrator{0.001};
    std::unique_ptr<OpenMM::Context> context;
    PlatformContext(const OpenMM::System& system, const PlatformCase& c) {
        context.reset(new OpenMM::Context(system, integrator, OpenMM::Platform::getPlatformByName(c.platform), c.platformProperties));
    }
    explicit PlatformContext(const OpenMM::System& system) {
        context.reset(new OpenMM::Context(system, integrator, OpenMM::Platform::getPlatformByName("Reference")));
    }
};

/**
 * Eight particles and three VAECVForces from tests/data in force groups 1-3: xy of atom 2 (L = 2,
 * component 1), polar of atom 0 (L = 2, restraint, prefix "polar_") and positions of atoms {5, 1,
 * 6, 3} (L = 2, restraint, prefix "pos_"). (L = 3 is an alanine bundle's, below.)
 * With torchScript the forces are evaluated by the bundle's TorchScript forward (on Reference, the
 * values everything is compared with); else the case's force properties apply.
 */
struct BundleSystem {
    OpenMM::System system;
    VAEPlugin::VAECVForce *xy, *polar, *positions;
    BundleSystem(const PlatformCase* c) {
        for (int i = 0; i < 8; i++)
            system.addParticle(1.0);
        xy = add("legacy-8b398d5-mueller-xy-autoregressive.pt", 1, c);
        xy->setAtoms({2});
        xy->useComponent(1);
        polar = add("beltway-polar-autoregressive.pt", 2, c);
        polar->setGlobalParameterPrefix("polar_");
        polar->useHarmonicRestraint({0.1, -0.2}, {150.0, 80.0});
        positions = add("positions-4atoms.pt", 3, c);
        positions->setGlobalParameterPrefix("pos_");
        positions->useHarmonicRestraint({-0.1, 0.2}, {100.0, 200.0});
    }
    VAEPlugin::VAECVForce* add(const std::string& bundle, int group, const PlatformCase* c) {
        VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(dataPath(bundle));
        applyProperties(*force, c);
        force->setForceGroup(group);
        system.addForce(force);
        return force;
    }
    std::vector<VAEPlugin::VAECVForce*> forces() const {
        return {xy, polar, positions};
    }
};

/** CV values, energy and forces of `force` agree between the two Contexts (relative tol, plus floor on forces). */
inline void expectForceAgrees(const VAEPlugin::VAECVForce& force, OpenMM::Context& context, const VAEPlugin::VAECVForce& referenceForce,
                              OpenMM::Context& reference, double tol, double forceFloor) {
    using OpenMM::State;
    int group = force.getForceGroup();
    SCOPED_TRACE("force group " + std::to_string(group));
    std::vector<double> z = force.getCollectiveVariableValues(context), zRef = referenceForce.getCollectiveVariableValues(reference);
    ASSERT_EQ(z.size(), zRef.size());
    for (int k = 0; k < (int) z.size(); k++)
        EXPECT_NEAR(z[k], zRef[k], tol * (1 + std::fabs(zRef[k]))) << "z" << k;
    State state = context.getState(State::Energy | State::Forces, false, 1 << group);
    State stateRef = reference.getState(State::Energy | State::Forces, false, 1 << group);
    EXPECT_NEAR(state.getPotentialEnergy(), stateRef.getPotentialEnergy(), tol * (1 + std::fabs(stateRef.getPotentialEnergy())));
    double scale = largestForce(stateRef.getForces());
    ASSERT_GT(scale, 1e-6) << "the test needs non-zero forces";
    for (int i = 0; i < (int) stateRef.getForces().size(); i++)
        for (int d = 0; d < 3; d++)
            EXPECT_NEAR(state.getForces()[i][d], stateRef.getForces()[i][d], tol * scale + forceFloor) << "atom " << i << " dim " << d;
}

inline void expectSystemsAgree(const BundleSystem& test, OpenMM::Context& context, const BundleSystem& reference, OpenMM::Context& referenceContext,
                               const PlatformCase& c) {
    for (int k = 0; k < (int) test.forces().size(); k++)
        expectForceAgrees(*test.forces()[k], context, *reference.forces()[k], referenceContext, c.tolerance, c.forceFloor);
}

class VAECVForcePlatformTest : public ::testing::TestWithParam<PlatformCase> {
protected:
    void SetUp() override {
        std::string why = whyNoPlatform(GetParam());
        if (!why.empty()) {
            if (std::getenv(requireVariable(GetParam().platform).c_str()))
                FAIL() << why;
            GTEST_SKIP() << why;
        }
    }
    /** Precision-independent tests run once per platform. */
    bool skipUnlessPrimary() const {
        return !GetParam().primary;
    }
    OpenMM::Platform& platform() const {
        return OpenMM::Platform::getPlatformByName(GetParam().platform);
    }
};

// ---- Trainer bundles: every platform ----

// One Context per case (PoCL compiles every program on first use), so this test also covers
// restraint parameters and updateParametersInContext.
TEST_P(VAECVForcePlatformTest, BundlesMatchReference) {
    using namespace OpenMM;
    const PlatformCase& c = GetParam();
    BundleSystem test(&c), reference(nullptr);
    PlatformContext onPlatform(test.system, c), onReference(reference.system);
    Context &context = *onPlatform.context, &referenceContext = *onReference.context;
    for (VAEPlugin::VAECVForce* force : test.forces())
        EXPECT_EQ(force->getImplementationInContext(context), c.implementation);
    EXPECT_EQ(reference.xy->getImplementationInContext(referenceContext), "torchscript");
    for (int trial = 0; trial < 3; trial++) {
        SCOPED_TRACE("configuration " + std::to_string(trial));
        std::vector<Vec3> positions = randomPositions(8, 100 + trial);
        context.setPositions(positions);
        referenceContext.setPositions(positions);
        expectSystemsAgree(test, context, reference, referenceContext, c);
    }
    // Restraint parameters are read from the Context at every evaluation.
    double before = context.getState(State::Energy, false, 1 << 3).getPotentialEnergy();
    for (Context* ctx : {&context, &referenceContext}) {
        ctx->setParameter("pos_center1", 0.7);
        ctx->setParameter("pos_kappa0", 40.0);
        ctx->setParameter("polar_center0", -0.3);
    }
    double after = context.getState(State::Energy, false, 1 << 3).getPotentialEnergy();
    EXPECT_GT(std::fabs(after - before), 1e-2 * (1 + std::fabs(before))) << "the parameters must change the energy";
    expectSystemsAgree(test, context, reference, referenceContext, c);
    // updateParametersInContext: another component and another order of the same number of atoms.
    for (BundleSystem* s : {&test, &reference}) {
        s->xy->useComponent(0);
        s->positions->setAtoms({3, 6, 1, 5});
    }
    for (auto [s, ctx] : {std::make_pair(&test, &context), std::make_pair(&reference, &referenceContext)}) {
        s->xy->updateParametersInContext(*ctx);
        s->positions->updateParametersInContext(*ctx);
    }
    expectSystemsAgree(test, context, reference, referenceContext, c);
    // An atom the System does not have is refused.
    test.positions->setAtoms({3, 6, 1, 8});
    EXPECT_THROW(test.positions->updateParametersInContext(context), OpenMMException);
}

TEST_P(VAECVForcePlatformTest, BundleForcesMatchFiniteDifferences) {
    if (!GetParam().doublePrecision())
        GTEST_SKIP() << "central differences of single-precision energies are noise at h = 1e-5 nm";
    BundleSystem test(&GetParam());
    PlatformContext onPlatform(test.system, GetParam());
    std::vector<OpenMM::Vec3> positions = randomPositions(8, 7);
    for (VAEPlugin::VAECVForce* force : test.forces()) {
        SCOPED_TRACE("force group " + std::to_string(force->getForceGroup()));
        expectForcesMatchFiniteDifferences(*onPlatform.context, positions, 1e-5, 1 << force->getForceGroup());
    }
}

// In a periodic System with a cutoff a platform may sort atoms in memory (identical molecules swap
// slots) and wrap molecules into the box, storing whole-box offsets; the CV must still see the
// positions the user set, as getState returns them.
TEST_P(VAECVForcePlatformTest, ReorderedAndWrappedAtoms) {
    using namespace OpenMM;
    if (skipUnlessPrimary())
        GTEST_SKIP() << "precision-independent: runs for the platform's primary case";
    const PlatformCase& c = GetParam();
    const int numMolecules = 40;
    const double box = 2.0;
    std::vector<Vec3> positions;
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0.0, box);
    for (int m = 0; m < numMolecules; m++) {
        Vec3 center(u(rng), u(rng), u(rng));
        if (m == 5 || m == 6)
            center += Vec3(2.3 * box, -1.4 * box, 0.6 * box);  // far outside the box
        for (int a = 0; a < 2; a++)
            positions.push_back(center + Vec3(0.05 * a, 0.03 * a, 0.0));
    }
    auto makePeriodic = [&](const PlatformCase* properties, VAEPlugin::VAECVForce*& force) {
        System* system = makeSystem(2 * numMolecules, 10.0);
        system->setDefaultPeriodicBoxVectors(Vec3(box, 0, 0), Vec3(0, box, 0), Vec3(0, 0, box));
        NonbondedForce* nonbonded = new NonbondedForce();
        nonbonded->setNonbondedMethod(NonbondedForce::CutoffPeriodic);
        nonbonded->setCutoffDistance(0.6);
        for (int m = 0; m < numMolecules; m++) {
            for (int a = 0; a < 2; a++)
                nonbonded->addParticle(0.0, 0.3, 0.0);  // no interactions: only the sorting matters
            nonbonded->addException(2 * m, 2 * m + 1, 0.0, 1.0, 0.0);
        }
        system->addForce(nonbonded);
        force = new VAEPlugin::VAECVForce(dataPath("positions-4atoms.pt"));
        force->setAtoms({13, 10, 11, 12});  // molecules 5 and 6, out of order
        applyProperties(*force, properties);
        force->useHarmonicRestraint({0.0, 0.0}, {1.0, 1.0});
        force->setForceGroup(1);
        system->addForce(force);
        return std::unique_ptr<System>(system);
    };
    VAEPlugin::VAECVForce *force, *referenceForce;
    std::unique_ptr<System> system = makePeriodic(&c, force), referenceSystem = makePeriodic(nullptr, referenceForce);
    PlatformContext onPlatform(*system, c), onReference(*referenceSystem);
    onPlatform.context->setPositions(positions);
    onPlatform.integrator.step(300);  // the GPU platforms reorder atoms every 250 steps
    onReference.context->setPositions(onPlatform.context->getState(State::Positions).getPositions());
    expectForceAgrees(*force, *onPlatform.context, *referenceForce, *onReference.context, c.tolerance, c.forceFloor);
}

// Models the native and device kernels cannot evaluate: the Reference and CPU platforms evaluate
// them with their TorchScript forward; the GPU platforms refuse them when the Context is created.
TEST_P(VAECVForcePlatformTest, BundlesWithoutNativeCodeFallBackOrAreRefused) {
    using namespace OpenMM;
    if (skipUnlessPrimary())
        GTEST_SKIP() << "precision-independent: runs for the platform's primary case";
    const PlatformCase& c = GetParam();
    std::vector<int> atoms = {0, 1, 2, 3};
    std::string bytes = dataBytes("positions-4atoms.pt");
    auto modified = [&](const std::function<void(torch::jit::Module&)>& change) {
        std::istringstream in(bytes);
        torch::jit::Module bundle = torch::jit::load(in);
        change(bundle);
        return archiveBytes(bundle, metadataFor(atoms, 2));
    };
    std::string extraLayer = modified([](torch::jit::Module& bundle) {
        bundle.attr("model").toModule().attr("encoder").toModule().register_parameter("extra_weight", torch::ones({2}, torch::kFloat64), false);
    });
    std::string unknownKind = modified([](torch::jit::Module& bundle) { bundle.setattr("feature_kind", std::string("dihedrals")); });
    std::string foreign = mlpModel(4, 2, 1, metadataFor(atoms, 2));
    std::vector<Vec3> positions = randomPositions(4, 4);
    for (const auto& model : std::vector<std::pair<std::string, std::string>>{
             {foreign, "not a trainer bundle"}, {extraLayer, "hidden1, hidden2, mean"}, {unknownKind, "'dihedrals'"}}) {
        SCOPED_TRACE(model.second);
        std::unique_ptr<System> system(makeSystem(4));
        VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(model.first);
        force->setAtoms(atoms);
        force->useHarmonicRestraint({0.1, 0.2}, {100.0, 150.0});
        system->addForce(force);
        if (c.torchScriptModels) {
            PlatformContext onPlatform(*system, c);
            EXPECT_EQ(force->getImplementationInContext(*onPlatform.context), "torchscript");
            // Same numbers as the TorchScript evaluation the Reference platform was asked for.
            std::unique_ptr<System> referenceSystem(makeSystem(4));
            VAEPlugin::VAECVForce* referenceForce = new VAEPlugin::VAECVForce(model.first);
            referenceForce->setAtoms(atoms);
            referenceForce->useHarmonicRestraint({0.1, 0.2}, {100.0, 150.0});
            referenceForce->setProperty("Implementation", "torchscript");
            referenceSystem->addForce(referenceForce);
            PlatformContext onReference(*referenceSystem);
            onPlatform.context->setPositions(positions);
            onReference.context->setPositions(positions);
            expectForceAgrees(*force, *onPlatform.context, *referenceForce, *onReference.context, 1e-12, 0.0);
        }
        else {
            std::string message = messageOf([&] { PlatformContext onPlatform(*system, c); });
            EXPECT_NE(message.find(c.platform + " platform"), std::string::npos) << message;
            EXPECT_NE(message.find(model.second), std::string::npos) << message;
            EXPECT_NE(message.find("Use the Reference or CPU platform"), std::string::npos) << message;
        }
    }
}

// The grid bias is interpolated on the host (LatentGrid::evaluate); the device kernels refuse it.
TEST_P(VAECVForcePlatformTest, GridBiasIsTheInterpolatedGridOrIsRefused) {
    using namespace OpenMM;
    if (skipUnlessPrimary())
        GTEST_SKIP() << "precision-independent: runs for the platform's primary case";
    const PlatformCase& c = GetParam();
    std::unique_ptr<System> system(makeSystem(4));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(dataPath("positions-4atoms.pt"));
    force->setAtoms({0, 1, 2, 3});
    VAEPlugin::LatentGrid grid({-3.0, -3.0}, {3.0, 3.0}, {30, 30}, {false, false});
    grid.addGaussian({0.1, -0.2}, {1.0, 1.5}, 12.0);
    force->useGridBias(grid);
    system->addForce(force);
    if (!c.gridBias) {
        std::string message = messageOf([&] { PlatformContext onPlatform(*system, c); });
        EXPECT_NE(message.find(c.platform + " platform has no kernel for the grid bias"), std::string::npos) << message;
        return;
    }
    PlatformContext onPlatform(*system, c);
    onPlatform.context->setPositions(randomPositions(4, 5));
    std::vector<double> z = force->getCollectiveVariableValues(*onPlatform.context), gradient;
    double expected = grid.evaluate(z, gradient);
    EXPECT_GT(std::fabs(expected), 1e-3) << "the grid must give a non-zero bias here";
    EXPECT_NEAR(onPlatform.context->getState(State::Energy).getPotentialEnergy(), expected, 1e-9 * (1 + std::fabs(expected)));
}

// The work-group tuning properties change how the device kernel shares the dense layers (a 16-thread
// group with 4 or 16 threads per output: several passes over the 24-wide layers, and reductions
// over more inputs than threads), not the results.
TEST_P(VAECVForcePlatformTest, WorkGroupPropertiesKeepResults) {
    const PlatformCase& c = GetParam();
    if (!c.workGroupProperties || !c.primary)
        GTEST_SKIP() << "the device kernels' properties, once per platform";
    for (const char* threadsPerOutput : {"4", "16"}) {
        SCOPED_TRACE(std::string("ThreadsPerOutput ") + threadsPerOutput);
        BundleSystem test(&c), reference(nullptr);
        for (VAEPlugin::VAECVForce* force : test.forces()) {
            force->setProperty("WorkGroupSize", "16");
            force->setProperty("ThreadsPerOutput", threadsPerOutput);
        }
        PlatformContext onPlatform(test.system, c), onReference(reference.system);
        std::vector<OpenMM::Vec3> positions = randomPositions(8, 21);
        onPlatform.context->setPositions(positions);
        onReference.context->setPositions(positions);
        expectSystemsAgree(test, *onPlatform.context, reference, *onReference.context, c);
    }
    BundleSystem test(&c);
    EXPECT_THROW(test.xy->setProperty("WorkGroupSize", "48"), OpenMM::OpenMMException);
    EXPECT_THROW(test.xy->setProperty("ThreadsPerOutput", "0"), OpenMM::OpenMMException);
}

/** A chain of n atoms (mass 12) with bonds of 0.15 nm and angles of 1.9 rad. */
inline std::unique_ptr<OpenMM::System> bentChain(int n) {
    std::unique_ptr<OpenMM::System> system(makeSystem(n));
    OpenMM::HarmonicBondForce* bonds = new OpenMM::HarmonicBondForce();
    OpenMM::HarmonicAngleForce* angles = new OpenMM::HarmonicAngleForce();
    for (int i = 0; i + 1 < n; i++)
        bonds->addBond(i, i + 1, 0.15, 5e3);
    for (int i = 0; i + 2 < n; i++)
        angles->addAngle(i, i + 1, i + 2, 1.9, 100.0);
    system->addForce(bonds);
    system->addForce(angles);
    return system;
}

/** Drift (kJ/mol/ps, least-squares slope) of the total energy sampled every stepsPerSample steps over 10 ps. */
inline double nveDrift(OpenMM::Context& context, OpenMM::Integrator& integrator, int stepsPerSample) {
    std::vector<double> times, energies;
    for (int block = 0; block <= 100; block++) {
        if (block > 0)
            integrator.step(stepsPerSample);
        OpenMM::State state = context.getState(OpenMM::State::Energy);
        times.push_back(state.getTime());
        energies.push_back(state.getKineticEnergy() + state.getPotentialEnergy());
    }
    EXPECT_NEAR(times.back(), 10.0, 1e-9);
    return leastSquaresSlope(times, energies);
}

// A bent 5-atom chain (bonds, angles) restrained along the 2-D latent of the raw positions of four
// of its atoms: total energy conserved by Verlet over 10 ps.
TEST_P(VAECVForcePlatformTest, NveEnergyIsConservedWithABundleRestraint) {
    using namespace OpenMM;
    const PlatformCase& c = GetParam();
    if (!c.longRuns)
        GTEST_SKIP() << "10 ps of dynamics: Reference only";
    const int n = 5;
    std::unique_ptr<System> system = bentChain(n);
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(dataPath("positions-4atoms.pt"));
    force->setAtoms({0, 1, 3, 4});
    force->useHarmonicRestraint({0.0, 0.0}, {200.0, 200.0});
    applyProperties(*force, &c);
    system->addForce(force);
    // The ReLU encoder makes the CV piecewise linear, so forces jump where a hidden unit switches;
    // Verlet's energy error at those kinks shrinks with the step, hence 0.25 fs.
    VerletIntegrator integrator(0.00025);
    Context context(*system, integrator, platform(), c.platformProperties);
    ASSERT_EQ(force->getImplementationInContext(context), c.implementation);
    // A relaxed zig-zag chain (bond 0.15 nm, angle 1.9 rad), so the run starts near equilibrium.
    std::vector<Vec3> positions;
    for (int i = 0; i < n; i++)
        positions.push_back(Vec3(0.15 * std::sin(0.95) * i, 0.15 * std::cos(0.95) * (i % 2), 0.0));
    context.setPositions(positions);
    // Centre the restraint near the starting latent so it holds the molecule rather than heating it.
    std::vector<double> z0 = force->getCollectiveVariableValues(context);
    context.setParameter("vae_center0", z0[0] + 0.05);
    context.setParameter("vae_center1", z0[1] - 0.05);
    context.setVelocitiesToTemperature(300.0, 5);
    double drift = nveDrift(context, integrator, 400);
    std::cout << c.name << ": drift " << drift << " kJ/mol/ps" << std::endl;
    EXPECT_LT(std::fabs(drift), 1e-3) << "total energy drift in kJ/mol/ps over 10 ps";
    EXPECT_GT(context.getState(State::Energy, false, 1 << force->getForceGroup()).getPotentialEnergy(), 0.0);
}

// ---- cartesian and bat bundles of alanine dipeptide (native on Reference and CPU only) ----

inline std::unique_ptr<OpenMM::System> alanineSystem(const std::string& bundle, const PlatformCase* c, VAEPlugin::VAECVForce*& force) {
    std::unique_ptr<OpenMM::System> system(makeSystem(25, 1.0));
    force = new VAEPlugin::VAECVForce(dataPath(bundle));
    std::vector<int> atoms;
    for (int a : force->getAtoms())
        atoms.push_back((a + 3) % 25);
    force->setAtoms(atoms);
    // A bat bundle with bonds to hydrogen constrained needs those constraints in the System.
    nlohmann::json metadata = nlohmann::json::parse(force->getMetadata());
    for (const nlohmann::json& bond : metadata["features"].value("constrained_bonds", nlohmann::json::array()))
        system->addConstraint((bond[0].get<int>() + 3) % 25, (bond[1].get<int>() + 3) % 25, bond[2].get<double>());
    std::vector<double> centers = {0.1, -0.2, 0.05}, kappas = {300.0, 200.0, 250.0};
    centers.resize(force->getNumLatentDimensions());
    kappas.resize(force->getNumLatentDimensions());
    force->useHarmonicRestraint(centers, kappas);
    applyProperties(*force, c);
    system->addForce(force);
    return system;
}

TEST_P(VAECVForcePlatformTest, MolecularBundlesMatchReference) {
    const PlatformCase& c = GetParam();
    if (!c.molecularFeatures)
        GTEST_SKIP() << "no native cartesian / bat features on " << c.platform;
    auto conformations = randomAlanineConformations(3, 7);
    for (const std::string& bundle : alanineBundles()) {
        SCOPED_TRACE(bundle);
        VAEPlugin::VAECVForce *force, *referenceForce;
        std::unique_ptr<OpenMM::System> system = alanineSystem(bundle, &c, force), referenceSystem = alanineSystem(bundle, nullptr, referenceForce);
        PlatformContext onPlatform(*system, c), onReference(*referenceSystem);
        EXPECT_EQ(force->getImplementationInContext(*onPlatform.context), c.implementation);
        for (const auto& conformation : conformations) {
            std::vector<OpenMM::Vec3> positions = alanineInSystem(conformation);
            onPlatform.context->setPositions(positions);
            onReference.context->setPositions(positions);
            // Features and their derivatives stay in double in single precision: 1e-8 relative in double
            // (the bat map's trigonometry), the case's tolerance in single.
            expectForceAgrees(*force, *onPlatform.context, *referenceForce, *onReference.context, std::max(c.tolerance, 1e-8), c.forceFloor);
        }
    }
}

TEST_P(VAECVForcePlatformTest, MolecularBundleForcesMatchFiniteDifferences) {
    const PlatformCase& c = GetParam();
    if (!c.molecularFeatures || !c.doublePrecision())
        GTEST_SKIP() << "native cartesian / bat features in double precision only";
    std::vector<OpenMM::Vec3> positions = alanineInSystem(randomAlanineConformations(1, 21)[0]);
    for (const std::string& bundle : alanineBundles()) {
        SCOPED_TRACE(bundle);
        VAEPlugin::VAECVForce* force;
        std::unique_ptr<OpenMM::System> system = alanineSystem(bundle, &c, force);
        PlatformContext onPlatform(*system, c);
        expectForcesMatchFiniteDifferences(*onPlatform.context, positions, 1e-5);
    }
}

// ---- Any TorchScript module (Reference and CPU): analytic and MLP models written by the tests ----

#define SKIP_UNLESS_TORCHSCRIPT_PRIMARY()                                                  \
    if (!GetParam().torchScriptModels || !GetParam().primary)                              \
    GTEST_SKIP() << "TorchScript modules: Reference and CPU, once per platform"

TEST_P(VAECVForcePlatformTest, AnalyticModelForcesMatchFiniteDifferences) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    const int n = 5;
    std::unique_ptr<System> system(makeSystem(n));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(analyticModel());
    force->setAtoms({3, 0, 4});
    force->useHarmonicRestraint({0.2, -0.1}, {300.0, 150.0});
    system->addForce(force);
    PlatformContext onPlatform(*system, GetParam());
    expectForcesMatchFiniteDifferences(*onPlatform.context, randomPositions(n, 3), 1e-5);
}

TEST_P(VAECVForcePlatformTest, MlpModelForcesMatchFiniteDifferences) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    const int n = 6;
    std::unique_ptr<System> system(makeSystem(n));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(mlpModel(4, 3));
    force->setAtoms({5, 1, 2, 0});
    force->useHarmonicRestraint({0.1, 0.2, -0.3}, {100.0, 200.0, 50.0});
    system->addForce(force);
    PlatformContext onPlatform(*system, GetParam());
    expectForcesMatchFiniteDifferences(*onPlatform.context, randomPositions(n, 4), 1e-5);
    // Component mode too.
    force->useComponent(1);
    onPlatform.context->reinitialize(true);
    expectForcesMatchFiniteDifferences(*onPlatform.context, randomPositions(n, 5), 1e-5);
}

TEST_P(VAECVForcePlatformTest, EnergyModesAndContextParameters) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    const int n = 3;
    std::unique_ptr<System> system(makeSystem(n));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(analyticModel());
    force->useHarmonicRestraint({0.5, 1.0}, {10.0, 20.0});
    system->addForce(force);
    PlatformContext onPlatform(*system, GetParam());
    Context& context = *onPlatform.context;
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
    PlatformContext componentContext(*system, GetParam());
    EXPECT_THROW(componentContext.context->getParameter("vae_center0"), OpenMMException);
    // A custom prefix.
    force->setGlobalParameterPrefix("cv_");
    force->useHarmonicRestraint({0.0, 0.0}, {1.0, 1.0});
    context.reinitialize(true);
    EXPECT_DOUBLE_EQ(context.getParameter("cv_kappa0"), 1.0);
}

TEST_P(VAECVForcePlatformTest, ForceGroupsAndUpdateParametersInContext) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    const int n = 4;
    std::unique_ptr<System> system(makeSystem(n));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(analyticModel());
    force->setAtoms({0, 1, 2});
    force->useComponent(0);
    force->setForceGroup(3);
    system->addForce(force);
    PlatformContext onPlatform(*system, GetParam());
    Context& context = *onPlatform.context;
    std::vector<Vec3> positions = randomPositions(n, 8);
    context.setPositions(positions);
    EXPECT_NE(context.getState(State::Energy, false, 1 << 3).getPotentialEnergy(), 0.0);
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
}

TEST_P(VAECVForcePlatformTest, NveEnergyConservationWithAnMlpRestraint) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    // A bent 5-atom chain (bonds, angles) restrained along a 2-D latent of a random MLP.
    const int n = 5;
    std::unique_ptr<System> system = bentChain(n);
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(mlpModel(n, 2, 11));
    force->useHarmonicRestraint({0.0, 0.0}, {200.0, 200.0});
    system->addForce(force);
    VerletIntegrator integrator(0.0005);
    Context context(*system, integrator, platform(), GetParam().platformProperties);
    std::vector<Vec3> positions;
    for (int i = 0; i < n; i++)
        positions.push_back(Vec3(0.15 * i, 0.03 * (i % 2), 0.0));
    context.setPositions(positions);
    context.setVelocitiesToTemperature(300.0, 5);
    double drift = nveDrift(context, integrator, 200);
    std::cout << "NVE: drift " << drift << " kJ/mol/ps" << std::endl;
    EXPECT_LT(std::fabs(drift), 1e-3) << "total energy drift in kJ/mol/ps";
    // The restraint does work: the latent moves and the restraint energy is not negligible.
    EXPECT_GT(context.getState(State::Energy, false, 1 << force->getForceGroup()).getPotentialEnergy(), 0.0);
}

TEST_P(VAECVForcePlatformTest, InsideCustomCVForceMatchesBareForce) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    const int n = 4;
    std::vector<Vec3> positions = randomPositions(n, 9);
    std::unique_ptr<System> bare(makeSystem(n)), wrapped(makeSystem(n));
    VAEPlugin::VAECVForce* component = new VAEPlugin::VAECVForce(mlpModel(n, 2, 3));
    component->useComponent(1);
    bare->addForce(component);
    CustomCVForce* cv = new CustomCVForce("z1");
    VAEPlugin::VAECVForce* inner = new VAEPlugin::VAECVForce(mlpModel(n, 2, 3));
    inner->useComponent(1);
    cv->addCollectiveVariable("z1", inner);
    wrapped->addForce(cv);
    PlatformContext c1(*bare, GetParam()), c2(*wrapped, GetParam());
    c1.context->setPositions(positions);
    c2.context->setPositions(positions);
    State s1 = c1.context->getState(State::Energy | State::Forces), s2 = c2.context->getState(State::Energy | State::Forces);
    EXPECT_NEAR(s1.getPotentialEnergy(), s2.getPotentialEnergy(), 1e-12);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            EXPECT_NEAR(s1.getForces()[i][d], s2.getForces()[i][d], 1e-10);
}

TEST_P(VAECVForcePlatformTest, NonFinitePositionsRaise) {
    using namespace OpenMM;
    SKIP_UNLESS_TORCHSCRIPT_PRIMARY();
    const int n = 3;
    std::unique_ptr<System> system(makeSystem(n));
    system->addForce(new VAEPlugin::VAECVForce(analyticModel()));
    PlatformContext onPlatform(*system, GetParam());
    Context& context = *onPlatform.context;
    std::vector<Vec3> positions = randomPositions(n, 1);
    positions[2][1] = std::nan("");
    context.setPositions(positions);
    // Our kernel names the atom; the CPU platform's own check may come first ("Particle coordinate is nan").
    std::string message = messageOf([&] { context.getState(State::Energy); });
    EXPECT_TRUE(message.find("atom 2") != std::string::npos || message.find("nan") != std::string::npos) << message;
    // The Context is still usable afterwards.
    context.setPositions(randomPositions(n, 2));
    EXPECT_TRUE(std::isfinite(context.getState(State::Energy).getPotentialEnergy()));
}

} // namespace VAETest

#endif
