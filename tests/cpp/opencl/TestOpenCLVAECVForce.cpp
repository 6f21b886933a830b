// VAECVForce on the OpenCL platform (the common GPU kernels; PoCL on the CPU in CI) against the
// Reference platform's TorchScript evaluation in double precision: CV values, energies and forces
// for the xy, polar and positions feature kinds (a shuffled atom subset among them) in single,
// mixed and double precision, restraint parameters and updateParametersInContext, finite
// differences, atoms reordered and wrapped by the platform, and bundles the kernels cannot run.
//
// Tolerances: double 1e-9 relative, plus 1e-9 kJ/mol/nm absolute on forces, which pass through
// OpenMM's fixed-point force buffer (resolution 2^-32 = 2.3e-10); single and mixed 2e-4 relative
// (the encoder runs in float32 there, as OpenMM's own kernels do).

#include "RandomBundles.h"
#include "TestModels.h"
#include "VAECVForce.h"
#include "openmm/Context.h"
#include "openmm/NonbondedForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <gtest/gtest.h>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;

namespace {

/** Empty if an OpenCL Context can be created here, else why not. Names the device once. */
std::string whyNoOpenCL() {
    VAETest::loadPlugins();
    try {
        System system;
        system.addParticle(1.0);
        VerletIntegrator integrator(0.001);
        Context context(system, integrator, Platform::getPlatformByName("OpenCL"));
        static bool named = false;
        if (!named)
            std::cout << "OpenCL device: " << context.getPlatform().getPropertyValue(context, "DeviceName") << std::endl;
        named = true;
        return "";
    }
    catch (const std::exception& e) {
        return std::string("no OpenCL platform can be created: ") + e.what();
    }
}

// OPENMMVAE_REQUIRE_OPENCL=1 (the GPU machine's check) turns a missing platform into a failure.
#define SKIP_WITHOUT_OPENCL()                           \
    do {                                                \
        std::string why = whyNoOpenCL();                \
        if (!why.empty()) {                             \
            if (std::getenv("OPENMMVAE_REQUIRE_OPENCL")) \
                FAIL() << why;                          \
            GTEST_SKIP() << why;                        \
        }                                               \
    } while (0)

double tolerance(const std::string& precision) {
    return precision == "double" ? 1e-9 : 2e-4;
}

/** The resolution of OpenMM's fixed-point force buffer (kJ/mol/nm), a floor for force differences. */
const double fixedPointResolution = 1.0 / 4294967296.0;

/**
 * Eight particles and three VAECVForces in force groups 1-3: xy of atom 2 (L = 2, component 1),
 * polar of atom 0 (L = 2, restraint, prefix "polar_") and positions of atoms {5, 1, 6, 3}
 * (L = 2, hidden 300 as in the paper, restraint, prefix "pos_"). The properties select the exact
 * TorchScript evaluation on the Reference platform; the OpenCL platform ignores them.
 */
struct TestSystem {
    System system;
    VAECVForce *xy, *polar, *positions;
    TestSystem() {
        for (int i = 0; i < 8; i++)
            system.addParticle(1.0);
        xy = add(VAETest::randomBundle("xy", {2}, 2, 40, 11), 1);
        xy->useComponent(1);
        polar = add(VAETest::randomBundle("polar", {0}, 2, 50, 12), 2);
        polar->setGlobalParameterPrefix("polar_");
        polar->useHarmonicRestraint({0.1, -0.2}, {150.0, 80.0});
        positions = add(VAETest::randomBundle("positions", {5, 1, 6, 3}, 2, 300, 13), 3);
        positions->setGlobalParameterPrefix("pos_");
        positions->useHarmonicRestraint({-0.1, 0.2}, {100.0, 200.0});
    }
    VAECVForce* add(const std::string& bytes, int group) {
        VAECVForce* force = new VAECVForce(bytes);
        force->setProperty("Implementation", "torchscript");
        force->setForceGroup(group);
        system.addForce(force);
        return force;
    }
    std::vector<VAECVForce*> forces() const {
        return {xy, polar, positions};
    }
};

/** A Context on a platform with a given precision ("" for Reference). */
struct PlatformContext {
    VerletIntegrator integrator{0.001};
    std::unique_ptr<Context> context;
    PlatformContext(const System& system, const std::string& precision) {
        if (precision.empty())
            context.reset(new Context(system, integrator, Platform::getPlatformByName("Reference")));
        else
            context.reset(new Context(system, integrator, Platform::getPlatformByName("OpenCL"), {{"Precision", precision}}));
    }
};

/** CV values, energy and forces of each force of the test system agree between the two Contexts. */
void expectAgree(const TestSystem& test, Context& openCL, Context& reference, double tol) {
    for (VAECVForce* force : test.forces()) {
        int group = force->getForceGroup();
        SCOPED_TRACE("force group " + std::to_string(group));
        std::vector<double> z = force->getCollectiveVariableValues(openCL), zRef = force->getCollectiveVariableValues(reference);
        ASSERT_EQ(z.size(), zRef.size());
        for (int k = 0; k < (int) z.size(); k++)
            EXPECT_NEAR(z[k], zRef[k], tol * (1 + std::fabs(zRef[k]))) << "z" << k;
        State state = openCL.getState(State::Energy | State::Forces, false, 1 << group);
        State stateRef = reference.getState(State::Energy | State::Forces, false, 1 << group);
        double e = state.getPotentialEnergy(), eRef = stateRef.getPotentialEnergy();
        EXPECT_NEAR(e, eRef, tol * (1 + std::fabs(eRef)));
        double scale = 0;
        for (const Vec3& f : stateRef.getForces())
            scale = std::max(scale, std::sqrt(f.dot(f)));
        ASSERT_GT(scale, 1e-6) << "the test needs non-zero forces";
        for (int i = 0; i < (int) stateRef.getForces().size(); i++)
            for (int d = 0; d < 3; d++)
                EXPECT_NEAR(state.getForces()[i][d], stateRef.getForces()[i][d], tol * scale + 4 * fixedPointResolution)
                    << "atom " << i << " dim " << d;
    }
}

void setPositions(std::vector<Context*> contexts, const std::vector<Vec3>& positions) {
    for (Context* c : contexts)
        c->setPositions(positions);
}

class OpenCLVAECVForce : public ::testing::TestWithParam<std::string> {};

} // namespace

// One Context per precision (PoCL compiles every program on first use), so this test also covers
// restraint parameters and updateParametersInContext.
TEST_P(OpenCLVAECVForce, MatchesReference) {
    SKIP_WITHOUT_OPENCL();
    const std::string precision = GetParam();
    const double tol = tolerance(precision);
    TestSystem test;
    PlatformContext openCL(test.system, precision), reference(test.system, "");
    for (VAECVForce* force : test.forces())
        EXPECT_EQ(force->getImplementationInContext(*openCL.context), "native-" + precision);
    std::vector<Context*> both = {openCL.context.get(), reference.context.get()};
    for (int trial = 0; trial < 3; trial++) {
        SCOPED_TRACE("configuration " + std::to_string(trial));
        setPositions(both, VAETest::randomPositions(8, 100 + trial));
        expectAgree(test, *openCL.context, *reference.context, tol);
    }
    // Restraint parameters are read from the Context at every evaluation.
    double before = openCL.context->getState(State::Energy, false, 1 << 3).getPotentialEnergy();
    for (Context* c : both) {
        c->setParameter("pos_center1", 0.7);
        c->setParameter("pos_kappa0", 40.0);
        c->setParameter("polar_center0", -0.3);
    }
    double after = openCL.context->getState(State::Energy, false, 1 << 3).getPotentialEnergy();
    EXPECT_GT(std::fabs(after - before), 1e-2 * (1 + std::fabs(before))) << "the parameters must change the energy";
    expectAgree(test, *openCL.context, *reference.context, tol);
    // updateParametersInContext: another component and another order of the same number of atoms.
    test.xy->useComponent(0);
    test.positions->setAtoms({3, 6, 1, 5});
    for (Context* c : both) {
        test.xy->updateParametersInContext(*c);
        test.positions->updateParametersInContext(*c);
    }
    expectAgree(test, *openCL.context, *reference.context, tol);
    // An atom the System does not have is refused.
    test.positions->setAtoms({3, 6, 1, 8});
    EXPECT_THROW(test.positions->updateParametersInContext(*openCL.context), OpenMMException);
}

INSTANTIATE_TEST_SUITE_P(Precisions, OpenCLVAECVForce, ::testing::Values("single", "mixed", "double"));

// The tuning properties change how the work group shares the dense layers (a 64-thread group, 8 or
// 64 threads per output, several passes over the 300-wide layers), not the results.
TEST(OpenCLVAECVForceSingle, WorkGroupPropertiesKeepResults) {
    SKIP_WITHOUT_OPENCL();
    for (const char* threadsPerOutput : {"8", "64"}) {
        SCOPED_TRACE(std::string("ThreadsPerOutput ") + threadsPerOutput);
        TestSystem test;
        for (VAECVForce* force : test.forces()) {
            force->setProperty("WorkGroupSize", "64");
            force->setProperty("ThreadsPerOutput", threadsPerOutput);
        }
        PlatformContext openCL(test.system, "single"), reference(test.system, "");
        setPositions({openCL.context.get(), reference.context.get()}, VAETest::randomPositions(8, 21));
        expectAgree(test, *openCL.context, *reference.context, tolerance("single"));
    }
    TestSystem test;
    EXPECT_THROW(test.xy->setProperty("WorkGroupSize", "48"), OpenMMException);
    EXPECT_THROW(test.xy->setProperty("ThreadsPerOutput", "0"), OpenMMException);
}

TEST(OpenCLVAECVForceDouble, ForcesMatchFiniteDifferences) {
    SKIP_WITHOUT_OPENCL();
    TestSystem test;
    PlatformContext openCL(test.system, "double");
    Context& context = *openCL.context;
    std::vector<Vec3> positions = VAETest::randomPositions(8, 7);
    context.setPositions(positions);
    const double h = 1e-5;
    for (VAECVForce* force : test.forces()) {
        int groups = 1 << force->getForceGroup();
        SCOPED_TRACE("force group " + std::to_string(force->getForceGroup()));
        context.setPositions(positions);
        std::vector<Vec3> f = context.getState(State::Forces, false, groups).getForces();
        double scale = 0;
        for (const Vec3& fi : f)
            scale = std::max(scale, std::sqrt(fi.dot(fi)));
        ASSERT_GT(scale, 1e-6);
        for (int i = 0; i < 8; i++)
            for (int d = 0; d < 3; d++) {
                std::vector<Vec3> plus = positions, minus = positions;
                plus[i][d] += h;
                minus[i][d] -= h;
                context.setPositions(plus);
                double ePlus = context.getState(State::Energy, false, groups).getPotentialEnergy();
                context.setPositions(minus);
                double eMinus = context.getState(State::Energy, false, groups).getPotentialEnergy();
                EXPECT_NEAR(f[i][d], -(ePlus - eMinus) / (2 * h), 1e-5 * scale) << "atom " << i << " dim " << d;
            }
    }
}

// In a periodic System with a cutoff the platform sorts atoms in memory (identical molecules swap
// slots) and wraps molecules into the box, storing whole-box offsets; the CV must still see the
// positions the user set, as getState returns them.
TEST(OpenCLVAECVForceSingle, ReorderedAndWrappedAtoms) {
    SKIP_WITHOUT_OPENCL();
    const int numMolecules = 40;
    const double box = 2.0;
    System system;
    system.setDefaultPeriodicBoxVectors(Vec3(box, 0, 0), Vec3(0, box, 0), Vec3(0, 0, box));
    NonbondedForce* nonbonded = new NonbondedForce();
    nonbonded->setNonbondedMethod(NonbondedForce::CutoffPeriodic);
    nonbonded->setCutoffDistance(0.6);
    std::vector<Vec3> positions;
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0.0, box);
    for (int m = 0; m < numMolecules; m++) {
        Vec3 center(u(rng), u(rng), u(rng));
        if (m == 5 || m == 6)
            center += Vec3(2.3 * box, -1.4 * box, 0.6 * box);  // far outside the box
        for (int a = 0; a < 2; a++) {
            system.addParticle(10.0);
            nonbonded->addParticle(0.0, 0.3, 0.0);  // no interactions: only the sorting matters
            positions.push_back(center + Vec3(0.05 * a, 0.03 * a, 0.0));
        }
        nonbonded->addException(2 * m, 2 * m + 1, 0.0, 1.0, 0.0);
    }
    system.addForce(nonbonded);
    std::vector<int> atoms = {13, 10, 11, 12};  // molecules 5 and 6, out of order
    VAECVForce* force = new VAECVForce(VAETest::randomBundle("positions", atoms, 2, 64, 21));
    force->setProperty("Implementation", "torchscript");
    force->useHarmonicRestraint({0.0, 0.0}, {1.0, 1.0});
    force->setForceGroup(1);
    system.addForce(force);
    PlatformContext openCL(system, "single"), reference(system, "");
    openCL.context->setPositions(positions);
    openCL.integrator.step(300);  // atoms are reordered every 250 steps
    State state = openCL.context->getState(State::Positions | State::Energy | State::Forces, false, 1 << 1);
    reference.context->setPositions(state.getPositions());
    State stateRef = reference.context->getState(State::Energy | State::Forces, false, 1 << 1);
    std::vector<double> z = force->getCollectiveVariableValues(*openCL.context), zRef = force->getCollectiveVariableValues(*reference.context);
    for (int k = 0; k < 2; k++)
        EXPECT_NEAR(z[k], zRef[k], 2e-4 * (1 + std::fabs(zRef[k]))) << "z" << k;
    EXPECT_NEAR(state.getPotentialEnergy(), stateRef.getPotentialEnergy(), 2e-4 * (1 + std::fabs(stateRef.getPotentialEnergy())));
    double scale = 0;
    for (const Vec3& f : stateRef.getForces())
        scale = std::max(scale, std::sqrt(f.dot(f)));
    for (int i = 0; i < system.getNumParticles(); i++)
        for (int d = 0; d < 3; d++)
            EXPECT_NEAR(state.getForces()[i][d], stateRef.getForces()[i][d], 2e-4 * scale) << "atom " << i << " dim " << d;
}

// Models the kernels cannot evaluate are refused when the Context is created, with the reason.
TEST(OpenCLVAECVForceErrors, UnsupportedBundlesAreRefused) {
    SKIP_WITHOUT_OPENCL();
    std::vector<int> atoms = {0, 1, 2};
    std::string foreign = VAETest::mlpModel(3, 2, 1, VAETest::metadataFor(atoms, 2));
    std::string bytes = VAETest::randomBundle("positions", atoms, 2, 30, 8);
    std::istringstream in(bytes);
    torch::jit::Module bundle = torch::jit::load(in);
    bundle.attr("model").toModule().attr("encoder").toModule().register_parameter("extra_weight", torch::ones({2}, torch::kFloat64), false);
    std::string extraLayer = VAETest::archiveBytes(bundle, VAETest::metadataFor(atoms, 2));
    // A feature kind without device code.
    std::istringstream in2(bytes);
    torch::jit::Module otherKind = torch::jit::load(in2);
    otherKind.setattr("feature_kind", std::string("dihedrals"));
    std::string unknownKind = VAETest::archiveBytes(otherKind, VAETest::metadataFor(atoms, 2));
    for (const auto& model : std::vector<std::pair<std::string, std::string>>{
             {foreign, "not a trainer bundle"}, {extraLayer, "hidden1, hidden2, mean"}, {unknownKind, "'dihedrals'"}}) {
        System system;
        for (int i = 0; i < 3; i++)
            system.addParticle(1.0);
        system.addForce(new VAECVForce(model.first));
        VerletIntegrator integrator(0.001);
        try {
            Context context(system, integrator, Platform::getPlatformByName("OpenCL"));
            ADD_FAILURE() << "expected an OpenMMException naming: " << model.second;
        }
        catch (const OpenMMException& e) {
            std::string message = e.what();
            EXPECT_NE(message.find("OpenCL platform"), std::string::npos) << message;
            EXPECT_NE(message.find(model.second), std::string::npos) << message;
            EXPECT_NE(message.find("Use the Reference or CPU platform"), std::string::npos) << message;
        }
    }
}

// The grid bias is interpolated on the host only (LatentGrid::evaluate): the device kernels refuse it.
TEST(OpenCLVAECVForceErrors, GridBiasIsRefused) {
    SKIP_WITHOUT_OPENCL();
    std::vector<int> atoms = {0, 1, 2};
    System system;
    for (int i = 0; i < 3; i++)
        system.addParticle(1.0);
    VAECVForce* force = new VAECVForce(VAETest::randomBundle("positions", atoms, 2, 30, 8));
    force->useGridBias(LatentGrid({-3.0, -3.0}, {3.0, 3.0}, {10, 10}, {false, false}));
    system.addForce(force);
    VerletIntegrator integrator(0.001);
    try {
        Context context(system, integrator, Platform::getPlatformByName("OpenCL"));
        ADD_FAILURE() << "expected an OpenMMException refusing the grid bias";
    }
    catch (const OpenMMException& e) {
        std::string message = e.what();
        EXPECT_NE(message.find("OpenCL platform has no kernel for the grid bias"), std::string::npos) << message;
    }
}
