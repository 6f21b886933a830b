// The native (Eigen) feature maps of cartesian and bat bundles against the bundle file's own
// TorchScript featurize: features, and the vector-Jacobian product of random dE/dfeatures against
// LibTorch autograd, in double precision, on random alanine dipeptide conformations. (z, energy and
// forces of the whole native evaluation are in the platform tests, VAECVForceTests.h.)

#include "AlanineBundles.h"
#include "NativeFeatureMap.h"
#include "VAEEncoderSpec.h"
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <algorithm>
#include <cmath>

using namespace VAEPlugin;

TEST(NativeFeatureMap, MatchesTheBundlesFeaturize) {
    auto conformations = VAETest::randomAlanineConformations(3, 8);
    for (const std::string& name : VAETest::alanineBundles()) {
        SCOPED_TRACE(name);
        torch::jit::Module module = torch::jit::load(VAETest::dataPath(name));
        VAEEncoderSpec spec;
        std::string whyNot;
        ASSERT_TRUE(VAEEncoderSpec::fromModule(module, spec, whyNot)) << whyNot;
        NativeFeatureMap map(spec);
        // The bundle's atoms are alanine atom indices, in the bundle's order.
        std::vector<int> atoms = VAECVForce(VAETest::dataPath(name)).getAtoms();
        for (const auto& conformation : conformations) {
            std::vector<double> positions;
            for (int a : atoms)
                for (int d = 0; d < 3; d++)
                    positions.push_back(conformation[a][d]);
            torch::Tensor x = torch::tensor(positions, torch::kFloat64).reshape({1, -1, 3}).requires_grad_(true);
            torch::Tensor f = module.get_method("featurize")({x}).toTuple()->elements()[0].toTensor();
            std::vector<double> native;
            map.evaluate(positions, native);
            ASSERT_EQ((int) native.size(), f.size(1));
            for (int i = 0; i < (int) native.size(); i++) {
                double diff = native[i] - f[0][i].item<double>();
                if (spec.periodic[i])
                    diff = std::remainder(diff, 2 * M_PI);
                EXPECT_NEAR(diff, 0.0, 1e-10) << "feature " << i;
            }
            torch::manual_seed(3);
            torch::Tensor g = torch::randn({1, f.size(1)}, torch::kFloat64);
            torch::Tensor expected = torch::autograd::grad({f}, {x}, {g})[0].reshape({-1});
            std::vector<double> dEdFeatures(g.data_ptr<double>(), g.data_ptr<double>() + g.numel()), dEdPositions;
            map.backward(dEdFeatures, dEdPositions);
            double scale = expected.abs().max().item<double>();
            for (int i = 0; i < (int) dEdPositions.size(); i++)
                EXPECT_NEAR(dEdPositions[i], expected[i].item<double>(), 1e-9 * scale) << "coordinate " << i;
        }
    }
}

namespace {

/** Random features a bundle's tree can place: bonds 0.1-0.15 nm, angles 1.75-2.05 rad, torsions anywhere (bat); r in (0.5, 2) for polar. */
torch::Tensor randomFeatures(const VAEEncoderSpec& spec, int count) {
    torch::Tensor f = torch::randn({count, spec.numFeatures}, torch::kFloat64);
    if (spec.featureKind == FeatureKind::Bat) {
        int rows = spec.batI.size(), free = spec.batFreeRows.size();
        f.slice(1, 0, 2 + free).uniform_(0.1, 0.15);
        f.slice(1, 2 + free, 3 + free + rows).uniform_(1.75, 2.05);
        f.slice(1, 3 + free + rows).uniform_(-M_PI, M_PI);
    } else if (spec.featureKind == FeatureKind::Polar) {
        f.slice(1, 0, 1).uniform_(0.5, 2.0);
        f.slice(1, 1, 2).uniform_(-M_PI, M_PI);
    }
    return f;
}

std::vector<double> row(const torch::Tensor& t, int b) {
    torch::Tensor c = t[b].reshape({-1}).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

} // namespace

// positionsFromFeatures against the bundle's positions_from_features, and featurize of its result
// (features and ln J) against the features it was given, for every feature kind with an exact inverse.
TEST(NativeFeatureMap, InverseMatchesTheBundlesPositionsFromFeatures) {
    const std::vector<std::string> bundles = {"ala-bat-shuffled-hbonds.pt", "legacy-8b398d5-ala-bat.pt", "beltway-polar-condind.pt",
                                              "mueller-xy-condind.pt", "positions-4atoms.pt"};
    for (const std::string& name : bundles) {
        SCOPED_TRACE(name);
        torch::jit::Module module = torch::jit::load(VAETest::dataPath(name));
        VAEEncoderSpec spec;
        std::string whyNot;
        ASSERT_TRUE(VAEEncoderSpec::fromModule(module, spec, whyNot)) << whyNot;
        NativeFeatureMap map(spec);
        torch::manual_seed(11);
        const int count = 4;
        torch::Tensor features = randomFeatures(spec, count);
        torch::Tensor reference = torch::randn({count, spec.numAtoms, 3}, torch::kFloat64);
        torch::Tensor expected = module.get_method("positions_from_features")({features, reference}).toTensor();
        for (int b = 0; b < count; b++) {
            std::vector<double> x = row(features, b), positions;
            map.positionsFromFeatures(x.data(), row(reference, b), positions);
            std::vector<double> want = row(expected, b);
            ASSERT_EQ(positions.size(), want.size());
            for (size_t i = 0; i < want.size(); i++)
                EXPECT_NEAR(positions[i], want[i], 1e-10) << "coordinate " << i;
            auto out = module.get_method("featurize")({torch::tensor(positions, torch::kFloat64).reshape({1, -1, 3})}).toTuple()->elements();
            std::vector<double> back = row(out[0].toTensor(), 0);
            for (int i = 0; i < spec.numFeatures; i++) {
                double diff = back[i] - x[i];
                if (spec.periodic[i])
                    diff = std::remainder(diff, 2 * M_PI);
                EXPECT_NEAR(diff, 0.0, 1e-10) << "feature " << i;
            }
            EXPECT_NEAR(map.logJacobian(x.data()), out[1].toTensor()[0].item<double>(), 1e-10);
        }
    }
}

TEST(NativeFeatureMap, InverseUsesOverriddenConstrainedBondLengths) {
    torch::jit::Module module = torch::jit::load(VAETest::dataPath("ala-bat-shuffled-hbonds.pt"));
    VAEEncoderSpec spec;
    std::string whyNot;
    ASSERT_TRUE(VAEEncoderSpec::fromModule(module, spec, whyNot)) << whyNot;
    NativeFeatureMap map(spec);
    int rows = spec.batI.size();
    std::vector<bool> constrained(rows, true);
    for (int r : spec.batFreeRows)
        constrained[r] = false;
    ASSERT_LT((int) spec.batFreeRows.size(), rows) << "the test needs constrained bonds";
    std::vector<double> lengths(rows, 0.0);
    for (int t = 0; t < rows; t++)
        if (constrained[t])
            lengths[t] = 0.1 + 0.001 * t;
    map.setConstrainedBondLengths(lengths);
    torch::manual_seed(5);
    std::vector<double> x = row(randomFeatures(spec, 1), 0), reference = row(torch::randn({1, spec.numAtoms, 3}, torch::kFloat64), 0);
    std::vector<double> positions, back;
    map.positionsFromFeatures(x.data(), reference, positions);
    for (int t = 0; t < rows; t++)
        if (constrained[t]) {
            double d2 = 0;
            for (int d = 0; d < 3; d++)
                d2 += std::pow(positions[3 * spec.batI[t] + d] - positions[3 * spec.batJ[t] + d], 2);
            EXPECT_NEAR(std::sqrt(d2), lengths[t], 1e-12) << "row " << t;
        }
    // The same as the bundle's inverse with those lengths in its bat_bond_length buffer.
    module.setattr("bat_bond_length", torch::tensor(lengths, torch::kFloat64));
    torch::Tensor expected = module.get_method("positions_from_features")(
        {torch::tensor(x, torch::kFloat64).unsqueeze(0), torch::tensor(reference, torch::kFloat64).reshape({1, -1, 3})}).toTensor();
    std::vector<double> want = row(expected, 0);
    for (size_t i = 0; i < want.size(); i++)
        EXPECT_NEAR(positions[i], want[i], 1e-10) << "coordinate " << i;
    map.evaluate(positions, back);
    for (int i = 0; i < spec.numFeatures; i++) {
        double diff = back[i] - x[i];
        if (spec.periodic[i])
            diff = std::remainder(diff, 2 * M_PI);
        EXPECT_NEAR(diff, 0.0, 1e-10) << "feature " << i;
    }
    // Bad lengths are refused, naming the value.
    std::vector<double> bad = lengths;
    int firstConstrained = std::find(constrained.begin(), constrained.end(), true) - constrained.begin();
    bad[firstConstrained] = -0.1;
    EXPECT_THROW(map.setConstrainedBondLengths(bad), std::invalid_argument);
    EXPECT_THROW(map.setConstrainedBondLengths(std::vector<double>(rows + 1, 0.1)), std::invalid_argument);
    EXPECT_EQ(map.constrainedBondLengths(), lengths);
}

TEST(NativeFeatureMap, CartesianHasNoInverse) {
    torch::jit::Module module = torch::jit::load(VAETest::dataPath("ala-cartesian-heavy-shuffled.pt"));
    VAEEncoderSpec spec;
    std::string whyNot;
    ASSERT_TRUE(VAEEncoderSpec::fromModule(module, spec, whyNot)) << whyNot;
    NativeFeatureMap map(spec);
    std::vector<double> x(spec.numFeatures, 0.0), positions;
    EXPECT_THROW(map.positionsFromFeatures(x.data(), spec.reference, positions), std::invalid_argument);
    EXPECT_THROW(map.setConstrainedBondLengths({}), std::invalid_argument);
}
