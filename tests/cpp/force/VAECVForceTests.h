#ifndef OPENMM_VAE_VAECVFORCE_TESTS_H_
#define OPENMM_VAE_VAECVFORCE_TESTS_H_

// The VAECVForce tests of every platform, written once (as OpenMM writes its own platform tests):
// each platform's file (tests/cpp/platforms/<platform>) includes this header and names its cases,
// one per precision, with the capability flags below: INSTANTIATE_VAECVFORCE_TESTS(Platform,
// cases...) runs each suite for the cases that have its capability. Bundles are the small files of
// tests/data (tests/data/generate); results are checked against the Reference platform's
// TorchScript evaluation in double precision, against finite differences and against the
// restraint formula.

#include "AlanineBundles.h"
#include "LatentGrid.h"
#include "TestData.h"
#include "TestModels.h"
#include "TestSupport.h"
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/CustomBondForce.h"
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
 * OpenMM's own kernels do). The device kernels run trainer bundles of every feature kind.
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
    c.molecularFeatures = true;
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
    OpenMM::Platform& platform() const {
        return OpenMM::Platform::getPlatformByName(GetParam().platform);
    }
};

// Each suite runs for the cases its capability selects (INSTANTIATE_VAECVFORCE_TESTS below), so
// that no test process starts only to skip (each start loads LibTorch: ~1.5 s).
class VAECVForceEveryCase : public VAECVForcePlatformTest {};        ///< every case
class VAECVForceDoublePrecision : public VAECVForcePlatformTest {};  ///< double precision: finite differences
class VAECVForcePrimary : public VAECVForcePlatformTest {};          ///< once per platform: precision-independent checks
class VAECVForceWorkGroups : public VAECVForcePlatformTest {};       ///< once per platform, device kernels only
class VAECVForceLongRuns : public VAECVForcePlatformTest {};         ///< 10 ps NVE runs (Reference)
class VAECVForceMolecular : public VAECVForcePlatformTest {};        ///< native cartesian and bat features
class VAECVForceMolecularDouble : public VAECVForcePlatformTest {};  ///< the same in double precision
class VAECVForceTorchScript : public VAECVForcePlatformTest {};      ///< any TorchScript module, once per platform

// ---- Trainer bundles: every platform ----

// One Context per case (PoCL compiles every program on first use), so this test also covers
// restraint parameters and updateParametersInContext.
TEST_P(VAECVForceEveryCase, BundlesMatchReference) {
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

TEST_P(VAECVForceDoublePrecision, BundleForcesMatchFiniteDifferences) {
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
TEST_P(VAECVForcePrimary, ReorderedAndWrappedAtoms) {
    using namespace OpenMM;
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
TEST_P(VAECVForcePrimary, BundlesWithoutNativeCodeFallBackOrAreRefused) {
    using namespace OpenMM;
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

// The work-group tuning properties change how the device kernel shares the dense layers (a 16-thread
// group with 4 or 16 threads per output: several passes over the 24-wide layers, and reductions
// over more inputs than threads), not the results.
TEST_P(VAECVForceWorkGroups, WorkGroupPropertiesKeepResults) {
    const PlatformCase& c = GetParam();
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
TEST_P(VAECVForceLongRuns, NveEnergyIsConservedWithABundleRestraint) {
    using namespace OpenMM;
    const PlatformCase& c = GetParam();
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

// ---- cartesian and bat bundles of alanine dipeptide (native on Reference and CPU, device kernels on OpenCL and CUDA) ----

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

TEST_P(VAECVForceMolecular, MolecularBundlesMatchReference) {
    const PlatformCase& c = GetParam();
    auto conformations = randomAlanineConformations(3, 7);
    // A mirror image too: the cartesian fit of one of a conformation and its mirror image needs the
    // reflection fix-up of the SVD (det M changes sign), so both cases are covered.
    conformations.push_back(conformations[0]);
    for (OpenMM::Vec3& atom : conformations.back())
        atom[0] = -atom[0];
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

TEST_P(VAECVForceMolecularDouble, MolecularBundleForcesMatchFiniteDifferences) {
    const PlatformCase& c = GetParam();
    std::vector<OpenMM::Vec3> positions = alanineInSystem(randomAlanineConformations(1, 21)[0]);
    for (const std::string& bundle : alanineBundles()) {
        SCOPED_TRACE(bundle);
        VAEPlugin::VAECVForce* force;
        std::unique_ptr<OpenMM::System> system = alanineSystem(bundle, &c, force);
        PlatformContext onPlatform(*system, c);
        expectForcesMatchFiniteDifferences(*onPlatform.context, positions, 1e-5);
    }
}

// ---- The grid bias (LatentGrid) ----

/** The latent z of `positions` under the bundle `bundle` fed `atoms` (a Reference Context in Component mode). */
inline std::vector<double> latentOnReference(const std::string& bundle, const std::vector<int>& atoms, const std::vector<OpenMM::Vec3>& positions) {
    std::unique_ptr<OpenMM::System> system(makeSystem(positions.size()));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(dataPath(bundle));
    force->setAtoms(atoms);
    system->addForce(force);
    PlatformContext onReference(*system);
    onReference.context->setPositions(positions);
    return force->getCollectiveVariableValues(*onReference.context);
}

// GridBias mode: the energy is the LatentGrid's interpolation at the platform's z (LatentGrid::evaluate
// defines it; the device kernels restate it) and forces agree with the Reference platform's exact
// evaluation, with z inside the grid and z beyond the edge of its non-periodic dimension (the wall)
// and outside the range of its periodic one (wrapped); updateParametersInContext brings another hill
// and another wall constant into the running Context, and refuses another geometry.
TEST_P(VAECVForceEveryCase, GridBiasIsTheInterpolatedGrid) {
    using namespace OpenMM;
    const PlatformCase& c = GetParam();
    const std::string bundle = "positions-4atoms.pt";
    const std::vector<int> atoms = {0, 1, 2, 3};
    const std::vector<Vec3> inside = randomPositions(4, 9), beyond = randomPositions(4, 2);
    const std::vector<double> zInside = latentOnReference(bundle, atoms, inside), zBeyond = latentOnReference(bundle, atoms, beyond);
    // z0: non-periodic, its upper edge halfway to the second configuration; z1: periodic (period 1),
    // the range starting halfway between the two configurations' z1, so the second one's wraps.
    ASSERT_GT(zBeyond[0] - zInside[0], 0.1);
    ASSERT_GT(std::fabs(zBeyond[1] - zInside[1]), 0.1);
    const double edge = 0.5 * (zInside[0] + zBeyond[0]), middle = 0.5 * (zInside[1] + zBeyond[1]);
    const double start = zBeyond[1] < zInside[1] ? middle : middle - 1.0;
    VAEPlugin::LatentGrid grid({zInside[0] - 1.0, start}, {edge, start + 1.0}, {30, 24}, {false, true});
    grid.addGaussian(zInside, {0.3, 0.2}, 12.0);
    grid.addGaussian({edge, start}, {0.2, 0.15}, -7.0);
    auto gridSystem = [&](const PlatformCase* properties, VAEPlugin::VAECVForce*& force) {
        std::unique_ptr<System> system(makeSystem(4));
        force = new VAEPlugin::VAECVForce(dataPath(bundle));
        force->setAtoms(atoms);
        applyProperties(*force, properties);
        force->useGridBias(grid);
        system->addForce(force);
        return system;
    };
    VAEPlugin::VAECVForce *force, *referenceForce;
    std::unique_ptr<System> system = gridSystem(&c, force), referenceSystem = gridSystem(nullptr, referenceForce);
    PlatformContext onPlatform(*system, c), onReference(*referenceSystem);
    Context &context = *onPlatform.context, &referenceContext = *onReference.context;
    // The interpolation in float arithmetic (the device kernels at single precision), else in double.
    const double gridTolerance = c.precision == "single" ? 1e-5 : 1e-9;
    auto expectInterpolatedGrid = [&](const std::vector<Vec3>& positions) {
        context.setPositions(positions);
        referenceContext.setPositions(positions);
        std::vector<double> z = force->getCollectiveVariableValues(context), gradient;
        double expected = grid.evaluate(z, gradient);
        EXPECT_NEAR(context.getState(State::Energy).getPotentialEnergy(), expected, gridTolerance * (1 + std::fabs(expected)));
        expectForceAgrees(*force, context, *referenceForce, referenceContext, c.tolerance, c.forceFloor);
        return expected;
    };
    EXPECT_GT(std::fabs(expectInterpolatedGrid(inside)), 1.0) << "the grid must give a bias here";
    double before = expectInterpolatedGrid(beyond);
    std::vector<double> z = force->getCollectiveVariableValues(context);
    ASSERT_GT(z[0], edge) << "the second configuration must lie beyond the grid's edge";
    EXPECT_GT(0.5 * grid.getWallForceConstant() * (z[0] - edge) * (z[0] - edge), 1.0) << "the wall must contribute";
    // Another hill near the edge and a softer wall, copied into the running Contexts.
    grid.addGaussian({edge - 0.1, zBeyond[1]}, {0.3, 0.25}, 20.0);
    grid.setWallForceConstant(400.0);
    for (auto [f, ctx] : {std::make_pair(force, &context), std::make_pair(referenceForce, &referenceContext)}) {
        f->useGridBias(grid);
        f->updateParametersInContext(*ctx);
    }
    double after = expectInterpolatedGrid(beyond);
    EXPECT_GT(std::fabs(after - before), 1.0) << "the update must change the bias";
    expectInterpolatedGrid(inside);
    VAEPlugin::LatentGrid otherGeometry(grid.getMins(), grid.getMaxs(), {30, 25}, grid.getPeriodic());
    force->useGridBias(otherGeometry);
    expectThrowContaining([&] { force->updateParametersInContext(context); }, "grid geometry");
    if (!c.molecularFeatures)
        return;
    // Three dimensions (the cartesian alanine bundle, L = 3), z beyond the edge of the last one.
    const std::string alanine = "ala-cartesian-heavy-shuffled.pt";
    VAEPlugin::VAECVForce *alanineForce, *alanineReferenceForce;
    std::unique_ptr<System> alanineSystemOnPlatform = alanineSystem(alanine, &c, alanineForce),
                            alanineReferenceSystem = alanineSystem(alanine, nullptr, alanineReferenceForce);
    std::vector<Vec3> positions = alanineInSystem(randomAlanineConformations(1, 3)[0]);
    std::vector<double> z0 = latentOnReference(alanine, alanineForce->getAtoms(), positions);
    ASSERT_EQ(z0.size(), 3u);
    VAEPlugin::LatentGrid grid3({z0[0] - 0.5, z0[1] - 0.5, z0[2] - 0.6}, {z0[0] + 0.5, z0[1] + 0.5, z0[2] - 0.1}, {12, 10, 8}, {false, true, false});
    grid3.addGaussian({z0[0] + 0.1, z0[1] - 0.1, z0[2] - 0.2}, {0.3, 0.2, 0.3}, 10.0);
    alanineForce->useGridBias(grid3);
    alanineReferenceForce->useGridBias(grid3);
    PlatformContext alanineOnPlatform(*alanineSystemOnPlatform, c), alanineOnReference(*alanineReferenceSystem);
    alanineOnPlatform.context->setPositions(positions);
    alanineOnReference.context->setPositions(positions);
    std::vector<double> gradient;
    double expected = grid3.evaluate(alanineForce->getCollectiveVariableValues(*alanineOnPlatform.context), gradient);
    EXPECT_NEAR(alanineOnPlatform.context->getState(State::Energy).getPotentialEnergy(), expected, gridTolerance * (1 + std::fabs(expected)));
    expectForceAgrees(*alanineForce, *alanineOnPlatform.context, *alanineReferenceForce, *alanineOnReference.context, std::max(c.tolerance, 1e-8),
                      c.forceFloor);
}

// ---- Periodic Systems ----

/** Each atom put into the cell [0, a_x) x [0, b_y) x [0, c_z) by whole box vectors (c, then b, then a), one atom at a time, as a PDB writer may store them. */
inline std::vector<OpenMM::Vec3> wrappedIntoBox(std::vector<OpenMM::Vec3> positions, const OpenMM::Vec3 box[3]) {
    for (OpenMM::Vec3& r : positions) {
        r -= box[2] * std::floor(r[2] / box[2][2]);
        r -= box[1] * std::floor(r[1] / box[1][1]);
        r -= box[0] * std::floor(r[0] / box[0][0]);
    }
    return positions;
}

/** How many different shifts turn `whole` into `wrapped` (2 or more: the molecule is stored broken across the box). */
inline int numDistinctShifts(const std::vector<OpenMM::Vec3>& whole, const std::vector<OpenMM::Vec3>& wrapped) {
    std::vector<OpenMM::Vec3> shifts;
    for (int i = 0; i < (int) whole.size(); i++) {
        OpenMM::Vec3 shift = wrapped[i] - whole[i];
        bool seen = false;
        for (const OpenMM::Vec3& s : shifts)
            seen = seen || (s - shift).dot(s - shift) < 1e-12;
        if (!seen)
            shifts.push_back(shift);
    }
    return shifts.size();
}

/** Make `system` periodic in `box` without changing its energy or forces (a periodic CustomBondForce of energy 0). */
inline void makePeriodic(OpenMM::System& system, const OpenMM::Vec3 box[3]) {
    system.setDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    OpenMM::CustomBondForce* periodic = new OpenMM::CustomBondForce("0");
    periodic->addBond(0, 1);
    periodic->setUsesPeriodicBoundaryConditions(true);
    system.addForce(periodic);
}

// In a periodic System the kernels make the selected atoms whole before featurisation
// (internal/WholeMolecule.h): a molecule stored wrapped into the box atom by atom gives the CV,
// energy and forces of the whole molecule (on the Reference platform, non-periodic), in a cubic box
// and, after setPeriodicBoxVectors, a triclinic one (the box of the current step counts). Raw
// positions: the first selected atom stays inside the box, so the whole molecule's CV is unchanged;
// alanine (cartesian and bat features, translation-invariant): the molecule is moved across a corner
// of the box. A non-periodic System feeds the positions as stored.
TEST_P(VAECVForceEveryCase, PeriodicSystemsSeeTheSelectedAtomsWhole) {
    using namespace OpenMM;
    const PlatformCase& c = GetParam();
    const Vec3 cubic[3] = {Vec3(2.6, 0, 0), Vec3(0, 2.6, 0), Vec3(0, 0, 2.6)};
    const Vec3 triclinic[3] = {Vec3(2.6, 0, 0), Vec3(0.7, 2.5, 0), Vec3(-0.8, 0.6, 2.4)};
    auto positionsSystem = [&](bool periodic, const PlatformCase* properties, VAEPlugin::VAECVForce*& force) {
        std::unique_ptr<System> system(makeSystem(4));
        if (periodic)
            makePeriodic(*system, cubic);
        force = new VAEPlugin::VAECVForce(dataPath("positions-4atoms.pt"));
        force->setAtoms({0, 1, 2, 3});
        force->useHarmonicRestraint({0.1, -0.2}, {150.0, 80.0});
        applyProperties(*force, properties);
        force->setForceGroup(1);
        system->addForce(force);
        return system;
    };
    VAEPlugin::VAECVForce *force, *nonPeriodicForce, *referenceForce;
    std::unique_ptr<System> system = positionsSystem(true, &c, force), nonPeriodicSystem = positionsSystem(false, &c, nonPeriodicForce),
                            referenceSystem = positionsSystem(false, nullptr, referenceForce);
    PlatformContext onPlatform(*system, c), nonPeriodicOnPlatform(*nonPeriodicSystem, c), onReference(*referenceSystem);
    std::vector<Vec3> whole, wrapped;
    for (const Vec3* box : {cubic, triclinic}) {
        SCOPED_TRACE(box == cubic ? "raw positions, cubic box" : "raw positions, triclinic box");
        onPlatform.context->setPeriodicBoxVectors(box[0], box[1], box[2]);
        whole = randomPositions(4, 9);
        Vec3 shift = Vec3(box[0][0] - 0.1, box[1][1] - 0.1, box[2][2] - 0.1) - whole[0];
        for (Vec3& r : whole)
            r += shift;
        wrapped = wrappedIntoBox(whole, box);
        ASSERT_TRUE(wrapped[0] == whole[0]);
        ASSERT_GE(numDistinctShifts(whole, wrapped), 2) << "the molecule must be stored broken";
        onPlatform.context->setPositions(wrapped);
        onReference.context->setPositions(whole);
        expectForceAgrees(*force, *onPlatform.context, *referenceForce, *onReference.context, c.tolerance, c.forceFloor);
    }
    // Without periodic boundary conditions the broken molecule is what the model sees.
    std::vector<double> zWhole = referenceForce->getCollectiveVariableValues(*onReference.context);
    nonPeriodicOnPlatform.context->setPositions(wrapped);
    onReference.context->setPositions(wrapped);
    expectForceAgrees(*nonPeriodicForce, *nonPeriodicOnPlatform.context, *referenceForce, *onReference.context, c.tolerance, c.forceFloor);
    std::vector<double> zStored = nonPeriodicForce->getCollectiveVariableValues(*nonPeriodicOnPlatform.context);
    EXPECT_GT(std::fabs(zStored[0] - zWhole[0]) + std::fabs(zStored[1] - zWhole[1]), 1e-3) << "the test needs a CV that sees the wrapping";
    if (!c.molecularFeatures)
        return;
    const std::vector<Vec3> alanine = alanineInSystem(randomAlanineConformations(1, 13)[0]);
    Vec3 centroid;
    for (int a = 0; a < 22; a++)
        centroid += alanine[(a + 3) % 25] / 22.0;
    for (const std::string& bundle : alanineBundles()) {
        VAEPlugin::VAECVForce *alanineForce, *alanineReferenceForce;
        std::unique_ptr<System> alanineSystemPeriodic = alanineSystem(bundle, &c, alanineForce),
                                alanineReferenceSystem = alanineSystem(bundle, nullptr, alanineReferenceForce);
        makePeriodic(*alanineSystemPeriodic, cubic);
        PlatformContext alanineOnPlatform(*alanineSystemPeriodic, c), alanineOnReference(*alanineReferenceSystem);
        alanineOnReference.context->setPositions(alanine);
        for (const Vec3* box : {cubic, triclinic}) {
            SCOPED_TRACE(bundle + (box == cubic ? ", cubic box" : ", triclinic box"));
            alanineOnPlatform.context->setPeriodicBoxVectors(box[0], box[1], box[2]);
            std::vector<Vec3> moved = alanine;
            for (Vec3& r : moved)
                r += Vec3(box[0][0], box[1][1], box[2][2]) - centroid;
            std::vector<Vec3> stored = wrappedIntoBox(moved, box);
            ASSERT_GE(numDistinctShifts(moved, stored), 4) << "the molecule must be stored broken";
            alanineOnPlatform.context->setPositions(stored);
            expectForceAgrees(*alanineForce, *alanineOnPlatform.context, *alanineReferenceForce, *alanineOnReference.context,
                              std::max(c.tolerance, 1e-8), c.forceFloor);
        }
    }
}

// ---- Any TorchScript module (Reference and CPU): analytic and MLP models written by the tests ----

TEST_P(VAECVForceTorchScript, AnalyticModelForcesMatchFiniteDifferences) {
    using namespace OpenMM;
    const int n = 5;
    std::unique_ptr<System> system(makeSystem(n));
    VAEPlugin::VAECVForce* force = new VAEPlugin::VAECVForce(analyticModel());
    force->setAtoms({3, 0, 4});
    force->useHarmonicRestraint({0.2, -0.1}, {300.0, 150.0});
    system->addForce(force);
    PlatformContext onPlatform(*system, GetParam());
    expectForcesMatchFiniteDifferences(*onPlatform.context, randomPositions(n, 3), 1e-5);
}

TEST_P(VAECVForceTorchScript, MlpModelForcesMatchFiniteDifferences) {
    using namespace OpenMM;
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

TEST_P(VAECVForceTorchScript, EnergyModesAndContextParameters) {
    using namespace OpenMM;
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

TEST_P(VAECVForceTorchScript, ForceGroupsAndUpdateParametersInContext) {
    using namespace OpenMM;
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

TEST_P(VAECVForceTorchScript, NveEnergyConservationWithAnMlpRestraint) {
    using namespace OpenMM;
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

TEST_P(VAECVForceTorchScript, InsideCustomCVForceMatchesBareForce) {
    using namespace OpenMM;
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

TEST_P(VAECVForceTorchScript, NonFinitePositionsRaise) {
    using namespace OpenMM;
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

/** The cases of `cases` that `keep` selects. */
inline std::vector<PlatformCase> selectCases(const std::vector<PlatformCase>& cases, bool (*keep)(const PlatformCase&)) {
    std::vector<PlatformCase> selected;
    for (const PlatformCase& c : cases)
        if (keep(c))
            selected.push_back(c);
    return selected;
}

inline std::string caseName(const ::testing::TestParamInfo<PlatformCase>& info) {
    return info.param.name;
}

// A platform whose capabilities leave a suite without cases instantiates it with none.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VAECVForceWorkGroups);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VAECVForceLongRuns);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VAECVForceMolecular);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VAECVForceMolecularDouble);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VAECVForceTorchScript);

} // namespace VAETest

/** Every suite of this file for one platform's cases (in the per-platform file, outside any namespace). */
#define INSTANTIATE_VAECVFORCE_TESTS(platform, ...)                                                                                \
    namespace VAETest {                                                                                                            \
    static const std::vector<PlatformCase> platform##Cases = {__VA_ARGS__};                                                       \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceEveryCase, ::testing::ValuesIn(platform##Cases), caseName);                      \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceDoublePrecision,                                                                  \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.doublePrecision(); })), caseName); \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForcePrimary,                                                                          \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.primary; })), caseName); \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceWorkGroups,                                                                       \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.primary && c.workGroupProperties; })), caseName); \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceLongRuns,                                                                         \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.longRuns; })), caseName); \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceMolecular,                                                                        \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.molecularFeatures; })), caseName); \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceMolecularDouble,                                                                  \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.molecularFeatures && c.doublePrecision(); })), caseName); \
    INSTANTIATE_TEST_SUITE_P(platform, VAECVForceTorchScript,                                                                      \
                             ::testing::ValuesIn(selectCases(platform##Cases, [](const PlatformCase& c) { return c.primary && c.torchScriptModels; })), caseName); \
    }

#endif
