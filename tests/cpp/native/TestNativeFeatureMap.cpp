// The native (Eigen) feature maps of cartesian and bat bundles against the bundle file's own
// TorchScript featurize: features, and the vector-Jacobian product of random dE/dfeatures against
// LibTorch autograd, in double precision, on random alanine dipeptide conformations. (z, energy and
// forces of the whole native evaluation are in the platform tests, VAECVForceTests.h.)

#include "AlanineBundles.h"
#include "NativeFeatureMap.h"
#include "VAEEncoderSpec.h"
#include <gtest/gtest.h>
#include <torch/torch.h>
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
