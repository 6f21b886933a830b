// The native (Eigen) evaluation of trainer bundles against their TorchScript forward: z, energy
// and forces for every feature kind, atom subsets in shuffled order, finite differences, NVE,
// and the fallback to TorchScript for bundles it does not support.

#include "Bundle.h"
#include "Dataset.h"
#include "RandomBundles.h"
#include "TestModels.h"
#include "VAECVForce.h"
#include "VAEModelBuilder.h"
#include "openmm/Context.h"
#include "openmm/HarmonicAngleForce.h"
#include "openmm/HarmonicBondForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <gtest/gtest.h>
#include <cmath>
#include <iostream>
#include <random>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;

namespace {

using VAETest::randomBundle;
using VAETest::randomPositions;

struct Result {
    std::vector<double> z;
    double energy;
    std::vector<Vec3> forces;
    std::string implementation;
};

Result evaluate(const std::string& bytes, const std::vector<int>& atoms, int numParticles, const std::string& implementation,
                const std::string& precision, const std::vector<Vec3>& positions, const std::string& platform = "Reference") {
    System system;
    for (int i = 0; i < numParticles; i++)
        system.addParticle(1.0);
    VAECVForce* force = new VAECVForce(bytes);
    force->setAtoms(atoms);
    int latent = force->getNumLatentDimensions();
    std::vector<double> centers, kappas;
    for (int k = 0; k < latent; k++) {
        centers.push_back(0.1 * k - 0.2);
        kappas.push_back(100.0 + 50.0 * k);
    }
    force->useHarmonicRestraint(centers, kappas);
    if (!implementation.empty())
        force->setProperty("Implementation", implementation);
    force->setProperty("Precision", precision);
    system.addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(system, integrator, Platform::getPlatformByName(platform));
    context.setPositions(positions);
    State state = context.getState(State::Energy | State::Forces);
    return {force->getCollectiveVariableValues(context), state.getPotentialEnergy(), state.getForces(), force->getImplementationInContext(context)};
}

void expectAgree(const Result& a, const Result& b, double tolerance) {
    ASSERT_EQ(a.z.size(), b.z.size());
    for (int k = 0; k < (int) a.z.size(); k++)
        EXPECT_NEAR(a.z[k], b.z[k], tolerance * (1 + std::fabs(b.z[k]))) << "z" << k;
    EXPECT_NEAR(a.energy, b.energy, tolerance * (1 + std::fabs(b.energy)));
    double scale = 0;
    for (const Vec3& f : b.forces)
        scale = std::max(scale, std::sqrt(f.dot(f)));
    ASSERT_GT(scale, 1e-6);
    for (int i = 0; i < (int) a.forces.size(); i++)
        for (int d = 0; d < 3; d++)
            EXPECT_NEAR(a.forces[i][d], b.forces[i][d], tolerance * scale) << "atom " << i << " dim " << d;
}

struct Case {
    std::string kind;
    std::vector<int> atoms;
    int numParticles, latent, hidden;
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << c.kind << " features of " << c.atoms.size() << " atoms, L = " << c.latent << ", H = " << c.hidden;
}

class NativeAgreesWithTorchScript : public ::testing::TestWithParam<Case> {};

} // namespace

TEST_P(NativeAgreesWithTorchScript, LatentEnergyAndForces) {
    VAETest::loadPlugins();
    const Case& c = GetParam();
    std::string bytes = randomBundle(c.kind, c.atoms, c.latent, c.hidden, 17);
    for (int trial = 0; trial < 3; trial++) {
        std::vector<Vec3> positions = randomPositions(c.numParticles, 100 + trial);
        Result reference = evaluate(bytes, c.atoms, c.numParticles, "torchscript", "double", positions);
        ASSERT_EQ(reference.implementation, "torchscript");
        Result nativeDouble = evaluate(bytes, c.atoms, c.numParticles, "", "double", positions);
        ASSERT_EQ(nativeDouble.implementation, "native-double");
        expectAgree(nativeDouble, reference, 1e-10);
        Result nativeSingle = evaluate(bytes, c.atoms, c.numParticles, "native", "single", positions, "CPU");
        ASSERT_EQ(nativeSingle.implementation, "native-single");
        expectAgree(nativeSingle, reference, 1e-4);
    }
}

INSTANTIATE_TEST_SUITE_P(FeatureKinds, NativeAgreesWithTorchScript,
                         ::testing::Values(Case{"xy", {2}, 4, 1, 50}, Case{"polar", {0}, 3, 2, 50},
                                           Case{"positions", {5, 1, 6, 3}, 8, 2, 300},
                                           Case{"positions", {0, 1, 2, 3, 4, 5}, 6, 3, 64}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                             return info.param.kind + std::to_string(info.param.atoms.size()) + "atoms";
                         });

TEST(NativeCVForce, ForcesMatchFiniteDifferences) {
    VAETest::loadPlugins();
    const int n = 5;
    std::vector<int> atoms = {4, 0, 2};
    std::string bytes = randomBundle("positions", atoms, 2, 40, 3);
    std::vector<Vec3> positions = randomPositions(n, 9);
    Result r = evaluate(bytes, atoms, n, "native", "double", positions);
    ASSERT_EQ(r.implementation, "native-double");
    const double h = 1e-5;
    double scale = 0;
    for (const Vec3& f : r.forces)
        scale = std::max(scale, std::sqrt(f.dot(f)));
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++) {
            std::vector<Vec3> plus = positions, minus = positions;
            plus[i][d] += h;
            minus[i][d] -= h;
            double numerical = -(evaluate(bytes, atoms, n, "native", "double", plus).energy -
                                 evaluate(bytes, atoms, n, "native", "double", minus).energy) / (2 * h);
            EXPECT_NEAR(r.forces[i][d], numerical, 1e-5 * scale) << "atom " << i << " dim " << d;
        }
}

class NativeNve : public ::testing::TestWithParam<std::string> {};

TEST_P(NativeNve, EnergyIsConserved) {
    VAETest::loadPlugins();
    const int n = 5;
    System system;
    HarmonicBondForce* bonds = new HarmonicBondForce();
    HarmonicAngleForce* angles = new HarmonicAngleForce();
    for (int i = 0; i < n; i++)
        system.addParticle(12.0);
    for (int i = 0; i + 1 < n; i++)
        bonds->addBond(i, i + 1, 0.15, 5e3);
    for (int i = 0; i + 2 < n; i++)
        angles->addAngle(i, i + 1, i + 2, 1.9, 100.0);
    system.addForce(bonds);
    system.addForce(angles);
    std::vector<int> atoms = {0, 1, 2, 3, 4};
    VAECVForce* force = new VAECVForce(randomBundle("positions", atoms, 2, 100, 5));
    force->useHarmonicRestraint({0.0, 0.0}, {200.0, 200.0});
    force->setProperty("Precision", GetParam());
    system.addForce(force);
    // The ReLU encoder makes the CV piecewise linear, so forces jump where a hidden unit switches;
    // Verlet's energy error at those kinks shrinks with the step, hence 0.25 fs.
    VerletIntegrator integrator(0.00025);
    Context context(system, integrator, Platform::getPlatformByName("Reference"));
    ASSERT_EQ(force->getImplementationInContext(context), "native-" + GetParam());
    // A relaxed zig-zag chain (bond 0.15 nm, angle 1.9 rad), so the run starts near equilibrium.
    std::vector<Vec3> positions;
    for (int i = 0; i < n; i++)
        positions.push_back(Vec3(0.15 * std::sin(0.95) * i, 0.15 * std::cos(0.95) * (i % 2), 0.0));
    context.setPositions(positions);
    // Centre the restraint on the starting latent so it holds the molecule rather than heating it.
    std::vector<double> z0 = force->getCollectiveVariableValues(context);
    context.setParameter("vae_center0", z0[0] + 0.05);
    context.setParameter("vae_center1", z0[1] - 0.05);
    context.setVelocitiesToTemperature(300.0, 5);
    std::vector<double> t, e;
    for (int block = 0; block <= 100; block++) {
        if (block > 0)
            integrator.step(400);
        State state = context.getState(State::Energy);
        t.push_back(state.getTime());
        e.push_back(state.getKineticEnergy() + state.getPotentialEnergy());
    }
    double drift = VAETest::leastSquaresSlope(t, e);
    std::cout << GetParam() << " precision: drift " << drift << " kJ/mol/ps (total energy " << e[0] << " kJ/mol)" << std::endl;
    EXPECT_LT(std::fabs(drift), 1e-3) << "total energy drift in kJ/mol/ps over 10 ps";
}

INSTANTIATE_TEST_SUITE_P(Precisions, NativeNve, ::testing::Values("single", "double"));

TEST(NativeCVForce, UnsupportedBundlesFallBackToTorchScript) {
    VAETest::loadPlugins();
    std::vector<int> atoms = {0, 1, 2};
    std::vector<Vec3> positions = randomPositions(3, 4);
    // A foreign model with metadata: not a trainer bundle.
    std::string foreign = VAETest::mlpModel(3, 2, 1, VAETest::metadataFor(atoms, 2));
    EXPECT_EQ(evaluate(foreign, atoms, 3, "native", "double", positions).implementation, "torchscript");
    // A trainer bundle whose encoder has a layer the native code does not know.
    std::string bytes = randomBundle("positions", atoms, 2, 30, 8);
    std::istringstream in(bytes);
    torch::jit::Module bundle = torch::jit::load(in);
    torch::jit::Module encoder = bundle.attr("model").toModule().attr("encoder").toModule();
    encoder.register_parameter("extra_weight", torch::ones({2}, torch::kFloat64), false);
    std::string modified = VAETest::archiveBytes(bundle, VAETest::metadataFor(atoms, 2));
    Result fallback = evaluate(modified, atoms, 3, "", "double", positions);
    EXPECT_EQ(fallback.implementation, "torchscript");
    Result native = evaluate(bytes, atoms, 3, "", "double", positions);
    EXPECT_EQ(native.implementation, "native-double");
    expectAgree(fallback, native, 1e-10);
    // A bundle whose feature kind has no native code: its forward still defines the CV.
    bundle.setattr("feature_kind", std::string("cartesian"));
    std::string otherKind = VAETest::archiveBytes(bundle, VAETest::metadataFor(atoms, 2));
    EXPECT_EQ(evaluate(otherKind, atoms, 3, "native", "double", positions).implementation, "torchscript");
}
