// Native (Eigen) evaluation of cartesian and bat bundles against their TorchScript forward: z,
// energy and forces on alanine dipeptide conformations with shuffled atom orders and subsets, and
// native forces against finite differences.

#include "Bundle.h"
#include "Dataset.h"
#include "MolecularFeatures.h"
#include "NativeFeatureMap.h"
#include "VAEModelBundle.h"
#include "TestModels.h"
#include "VAECVForce.h"
#include "VAEModelBuilder.h"
#include "openmm/Context.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <random>

using namespace OpenMM;
using namespace VAEPlugin;

namespace {

// Alanine dipeptide (Ace-Ala-Nme) in AMBER atom order: elements and bonds.
const std::vector<std::string> kElements = {"H", "C", "H", "H", "C", "O", "N", "H", "C", "H", "C",
                                            "H", "H", "H", "C", "O", "N", "H", "C", "H", "H", "H"};
const std::vector<std::pair<int, int>> kBonds = {{0, 1},   {1, 2},   {1, 3},   {1, 4},   {4, 5},   {4, 6},   {6, 7},
                                                 {6, 8},   {8, 9},   {8, 10},  {8, 14},  {10, 11}, {10, 12}, {10, 13},
                                                 {14, 15}, {14, 16}, {16, 17}, {16, 18}, {18, 19}, {18, 20}, {18, 21}};

/** Random alanine conformations (System order), built by a bat feature map from random internal coordinates. */
std::vector<std::vector<Vec3>> randomConformations(int count, int seed) {
    std::vector<int> all(22);
    for (int i = 0; i < 22; i++) all[i] = i;
    BatTree tree = buildBatTree(all, kElements, kBonds, "none");
    FeatureSpec spec = FeatureSpec::makeBat(all, tree, "none");
    torch::jit::Module m = makeFeatureModule(spec);
    torch::manual_seed(seed);
    int rows = tree.rows.size(), bonds = 2 + rows;
    torch::Tensor f = torch::empty({count, spec.numFeatures()}, torch::kFloat64);
    f.slice(1, 0, bonds).uniform_(0.1, 0.15);
    f.slice(1, bonds, bonds + 1 + rows).uniform_(1.75, 2.05);
    f.slice(1, bonds + 1 + rows).uniform_(-M_PI, M_PI);
    torch::Tensor reference = torch::randn({count, 22, 3}, torch::kFloat64);
    torch::Tensor x = m.get_method("positions_from_features")({f, reference}).toTensor();
    std::vector<std::vector<Vec3>> result(count);
    for (int c = 0; c < count; c++)
        for (int i = 0; i < 22; i++) result[c].push_back(Vec3(x[c][i][0].item<double>(), x[c][i][1].item<double>(), x[c][i][2].item<double>()));
    return result;
}

/** A random (untrained) bundle with a non-trivial standardisation over the System atoms `atoms`. */
std::string randomBundle(const FeatureSpec& features, int latent, uint64_t seed) {
    ModelConfig config;
    config.numFeatures = features.numFeatures();
    config.periodic = features.periodic;
    config.latent = latent;
    config.hidden = 300;
    config.decoder = "mse";
    torch::jit::Module model = buildVAE(config, seed);
    Standardization standardization;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int i = 0; i < features.numFeatures(); i++) {
        standardization.mean.push_back(features.periodic[i] ? 0.0 : 0.3 * (u(rng) - 0.5));
        standardization.scale.push_back(features.periodic[i] ? 1.0 : 0.05 + 0.2 * u(rng));
    }
    torch::jit::Module bundle = makeBundle(model, features, standardization);
    return VAETest::archiveBytes(bundle, VAETest::metadataFor(features.atoms, latent));
}

struct Result {
    std::vector<double> z;
    double energy;
    std::vector<Vec3> forces;
    std::string implementation;
};

/** The bundle on `atoms` of a 25-particle System whose particle atoms[k] holds conformation atom order[k]. */
Result evaluate(const std::string& bytes, const std::vector<int>& atoms, const std::string& implementation, const std::string& precision,
                const std::vector<Vec3>& positions, const std::string& platform = "Reference") {
    System system;
    for (int i = 0; i < 25; i++) system.addParticle(1.0);
    VAECVForce* force = new VAECVForce(bytes);
    force->setAtoms(atoms);
    force->useHarmonicRestraint({0.1, -0.2}, {300.0, 200.0});
    if (!implementation.empty()) force->setProperty("Implementation", implementation);
    force->setProperty("Precision", precision);
    system.addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(system, integrator, Platform::getPlatformByName(platform));
    context.setPositions(positions);
    State state = context.getState(State::Energy | State::Forces);
    return {force->getCollectiveVariableValues(context), state.getPotentialEnergy(), state.getForces(), force->getImplementationInContext(context)};
}

void expectAgree(const Result& a, const Result& b, double tolerance, const std::string& what) {
    ASSERT_EQ(a.z.size(), b.z.size());
    for (int k = 0; k < (int) a.z.size(); k++) EXPECT_NEAR(a.z[k], b.z[k], tolerance * (1 + std::fabs(b.z[k]))) << what << " z" << k;
    EXPECT_NEAR(a.energy, b.energy, tolerance * (1 + std::fabs(b.energy))) << what;
    double scale = 0;
    for (const Vec3& f : b.forces) scale = std::max(scale, std::sqrt(f.dot(f)));
    ASSERT_GT(scale, 1e-3) << what;
    for (int i = 0; i < (int) a.forces.size(); i++)
        for (int d = 0; d < 3; d++) EXPECT_NEAR(a.forces[i][d], b.forces[i][d], tolerance * scale) << what << " atom " << i << " dim " << d;
}

/** A case: feature kind, which alanine atoms (in which order), where they sit in the 25-particle System. */
struct Case {
    std::string name, kind, constraints;
    std::vector<int> alanineAtoms, systemAtoms;
    FeatureSpec features;
    std::string bytes;
};

std::vector<Case> cases() {
    std::mt19937 rng(11);
    std::vector<Case> result;
    std::vector<int> all(22), heavy;
    for (int i = 0; i < 22; i++) {
        all[i] = i;
        if (kElements[i] != "H") heavy.push_back(i);
    }
    std::vector<int> shuffled = all, heavyShuffled = heavy;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::shuffle(heavyShuffled.begin(), heavyShuffled.end(), rng);
    for (auto [name, kind, constraints, alanine] :
         std::vector<std::tuple<std::string, std::string, std::string, std::vector<int>>>{{"bat-all-hbonds-shuffled", "bat", "hbonds", shuffled},
                                                                                          {"bat-heavy", "bat", "none", heavy},
                                                                                          {"cartesian-all", "cartesian", "", all},
                                                                                          {"cartesian-heavy-shuffled", "cartesian", "", heavyShuffled}}) {
        Case c;
        c.name = name;
        c.kind = kind;
        c.alanineAtoms = alanine;
        // System index of each selected atom: alanine atom a sits at particle (a + 3) % 25 (atoms 22-24 unused).
        for (int a : alanine) c.systemAtoms.push_back((a + 3) % 25);
        if (kind == "bat") {
            // The tree is built on alanine indices; the spec's atoms are System indices (names only).
            BatTree tree = buildBatTree(alanine, kElements, kBonds, constraints);
            for (size_t r = 0; r < tree.rows.size(); r++)
                if (tree.constrained[r]) tree.bondLength[r] = 0.1;
            c.features = FeatureSpec::makeBat(c.systemAtoms, tree, constraints);
        } else {
            std::vector<Vec3> ref = randomConformations(1, 99)[0];
            std::vector<double> reference;
            for (int a : alanine)
                for (int d = 0; d < 3; d++) reference.push_back(ref[a][d]);
            c.features = FeatureSpec::cartesian(c.systemAtoms, reference);
        }
        c.bytes = randomBundle(c.features, 2, 5);
        result.push_back(c);
    }
    return result;
}

/** Conformation (alanine order) placed in the 25-particle System. */
std::vector<Vec3> systemPositions(const std::vector<Vec3>& alanine) {
    std::vector<Vec3> p(25, Vec3(0.5, 0.5, 0.5));
    for (int a = 0; a < 22; a++) p[(a + 3) % 25] = alanine[a];
    return p;
}

} // namespace

// The feature map alone: native features and the vector-Jacobian product of random dE/dfeatures
// against the bundle's featurize and LibTorch autograd (double precision throughout).
TEST(NativeMolecularFeatures, FeatureMapMatchesFeaturize) {
    auto conformations = randomConformations(3, 8);
    for (const Case& c : cases()) {
        torch::jit::Module module = VAEModelBundle::load(c.bytes)->createModule();
        VAEEncoderSpec spec;
        std::string whyNot;
        ASSERT_TRUE(VAEEncoderSpec::fromModule(module, spec, whyNot)) << whyNot;
        NativeFeatureMap map(spec);
        for (const auto& conformation : conformations) {
            std::vector<double> positions;
            for (int a : c.alanineAtoms)
                for (int d = 0; d < 3; d++) positions.push_back(conformation[a][d]);
            torch::Tensor x = torch::tensor(positions, torch::kFloat64).reshape({1, -1, 3}).requires_grad_(true);
            torch::Tensor f = module.get_method("featurize")({x}).toTuple()->elements()[0].toTensor();
            std::vector<double> native;
            map.evaluate(positions, native);
            ASSERT_EQ((int) native.size(), f.size(1)) << c.name;
            for (int i = 0; i < (int) native.size(); i++) {
                double diff = native[i] - f[0][i].item<double>();
                if (c.features.periodic[i]) diff = std::remainder(diff, 2 * M_PI);
                EXPECT_NEAR(diff, 0.0, 1e-10) << c.name << " feature " << i << " " << c.features.names[i];
            }
            torch::manual_seed(3);
            torch::Tensor g = torch::randn({1, f.size(1)}, torch::kFloat64);
            torch::Tensor expected = torch::autograd::grad({f}, {x}, {g})[0].reshape({-1});
            std::vector<double> dEdFeatures(g.data_ptr<double>(), g.data_ptr<double>() + g.numel()), dEdPositions;
            map.backward(dEdFeatures, dEdPositions);
            double scale = expected.abs().max().item<double>();
            for (int i = 0; i < (int) dEdPositions.size(); i++)
                EXPECT_NEAR(dEdPositions[i], expected[i].item<double>(), 1e-9 * scale) << c.name << " coordinate " << i;
        }
    }
}

TEST(NativeMolecularFeatures, AgreeWithTorchScript) {
    VAETest::loadPlugins();
    auto conformations = randomConformations(3, 7);
    for (const Case& c : cases()) {
        for (const auto& conformation : conformations) {
            std::vector<Vec3> positions = systemPositions(conformation);
            Result reference = evaluate(c.bytes, c.systemAtoms, "torchscript", "double", positions);
            ASSERT_EQ(reference.implementation, "torchscript") << c.name;
            Result nativeDouble = evaluate(c.bytes, c.systemAtoms, "", "double", positions);
            ASSERT_EQ(nativeDouble.implementation, "native-double") << c.name;
            expectAgree(nativeDouble, reference, 1e-8, c.name + " double");
            // float32 MLP (features and their derivatives stay in double): relative 1e-4.
            Result nativeSingle = evaluate(c.bytes, c.systemAtoms, "native", "single", positions, "CPU");
            ASSERT_EQ(nativeSingle.implementation, "native-single") << c.name;
            expectAgree(nativeSingle, reference, 1e-4, c.name + " single");
        }
    }
}

TEST(NativeMolecularFeatures, ForcesMatchFiniteDifferences) {
    VAETest::loadPlugins();
    std::vector<Vec3> positions = systemPositions(randomConformations(1, 21)[0]);
    for (const Case& c : cases()) {
        Result r = evaluate(c.bytes, c.systemAtoms, "native", "double", positions);
        ASSERT_EQ(r.implementation, "native-double");
        double scale = 0;
        for (const Vec3& f : r.forces) scale = std::max(scale, std::sqrt(f.dot(f)));
        const double h = 1e-6;
        for (int i : {c.systemAtoms[0], c.systemAtoms[3], c.systemAtoms[7]})
            for (int d = 0; d < 3; d++) {
                std::vector<Vec3> plus = positions, minus = positions;
                plus[i][d] += h;
                minus[i][d] -= h;
                double numerical = -(evaluate(c.bytes, c.systemAtoms, "native", "double", plus).energy -
                                     evaluate(c.bytes, c.systemAtoms, "native", "double", minus).energy) / (2 * h);
                EXPECT_NEAR(r.forces[i][d], numerical, 1e-5 * scale) << c.name << " atom " << i << " dim " << d;
            }
    }
}
