#include "Metrics.h"
#include "TestHelpers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

using namespace VAEPlugin;
using namespace VAEPlugin::testing_helpers;

namespace {
const int kThreads = setUpThreads();

template <class F>
std::string thrownMessage(F f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(nothing thrown)";
}
} // namespace

TEST(LatentMetrics, JdEncodeOfIdenticalEncodingsIsZero) {
    auto mu = torch::full({50, 3}, 0.7, torch::kFloat64);
    auto lv = torch::full({50, 3}, -1.3, torch::kFloat64);
    torch::Tensor jd = jdEncode(mu, lv, 20);
    EXPECT_EQ(jd.size(0), 3);
    EXPECT_LT(jd.abs().max().item<double>(), 1e-12);
}

TEST(LatentMetrics, JdEncodeOfTwoPointsIsTheSymmetrisedKL) {
    auto mu = torch::tensor({{0.0}, {1.5}}, torch::kFloat64);
    auto lv = torch::tensor({{0.0}, {std::log(4.0)}}, torch::kFloat64);
    // KL(a||b) = 0.5 [1/4 + 2.25/4 - 1 + ln 4], KL(b||a) = 0.5 [4 + 2.25 - 1 - ln 4]
    double klab = 0.5 * (0.25 + 2.25 / 4 - 1 + std::log(4.0)), klba = 0.5 * (4 + 2.25 - 1 - std::log(4.0));
    EXPECT_NEAR(jdEncode(mu, lv, 200)[0].item<double>(), 0.5 * (klab + klba), 1e-12);
    // pairs are only taken inside batches: two batches of one row each would have none
    auto mu4 = torch::tensor({{0.0}, {0.0}, {5.0}, {5.0}}, torch::kFloat64);
    EXPECT_NEAR(jdEncode(mu4, torch::zeros({4, 1}, torch::kFloat64), 2)[0].item<double>(), 0.0, 1e-14);
}

TEST(LatentMetrics, GaussianKLMatchesMonteCarlo) {
    auto gen = at::detail::createCPUGenerator(7);
    const double muA = 0.3, sA = std::sqrt(0.5), muB = -0.4, sB = std::sqrt(2.0);
    const int64_t n = 400000;
    torch::Tensor x = muA + sA * torch::randn({n}, gen, torch::kFloat64);
    auto logN = [](const torch::Tensor& v, double m, double s) {
        return -0.5 * (v - m) * (v - m) / (s * s) - std::log(s) - 0.5 * std::log(2 * M_PI);
    };
    torch::Tensor diff = logN(x, muA, sA) - logN(x, muB, sB);
    double mc = diff.mean().item<double>(), err = diff.std().item<double>() / std::sqrt(double(n));
    double exact = gaussianKL(torch::tensor({muA}, torch::kFloat64), torch::tensor({std::log(sA * sA)}, torch::kFloat64),
                              torch::tensor({muB}, torch::kFloat64), torch::tensor({std::log(sB * sB)}, torch::kFloat64))
                       .item<double>();
    EXPECT_NEAR(mc, exact, 4 * err) << "analytic " << exact << " Monte Carlo " << mc;
}

TEST(LatentMetrics, TotalCorrelationOfIndependentLatentsIsNearZero) {
    auto gen = at::detail::createCPUGenerator(3);
    torch::Tensor z = torch::randn({100000, 2}, gen, torch::kFloat64);
    torch::Tensor logp = -0.5 * (z * z).sum(1) - std::log(2 * M_PI);
    std::vector<double> marg;
    double joint = 0;
    double tc = totalCorrelation(z, logp, 100, &marg, &joint);
    EXPECT_NEAR(tc, 0.0, 0.03);
    ASSERT_EQ(marg.size(), 2u);
    EXPECT_NEAR(marg[0], 0.5 * std::log(2 * M_PI * M_E), 0.02);
}

TEST(LatentMetrics, TotalCorrelationOfDuplicatedLatentsIsLarge) {
    auto gen = at::detail::createCPUGenerator(4);
    torch::Tensor z1 = torch::randn({100000}, gen, torch::kFloat64);
    const double s = 0.01;
    torch::Tensor z2 = z1 + s * torch::randn({100000}, gen, torch::kFloat64);
    torch::Tensor z = torch::stack({z1, z2}, 1);
    torch::Tensor logp = -0.5 * z1 * z1 - 0.5 * (z2 - z1) * (z2 - z1) / (s * s) - std::log(s) - std::log(2 * M_PI);
    double tc = totalCorrelation(z, logp, 100);
    EXPECT_GT(tc, 3.5);                // exact: -ln s + O(s^2) = 4.6
    EXPECT_NEAR(tc, -std::log(s), 0.2);
}

TEST(LatentMetrics, BundleMetricsAreFiniteAndFast) {
    auto sys = makeSystem("gaussian");
    torch::Tensor data = sys->sample(100000, 5);
    auto bundle = poorBundle(FeatureKind::XY, data.slice(0, 0, 5000), 100, 5, 2);
    auto t0 = std::chrono::steady_clock::now();
    LatentMetrics m = computeLatentMetrics(bundle, data);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[metrics] n=100000 in " << secs << " s: JD_encode " << m.jdEncode[0] << " " << m.jdEncode[1]
              << " active " << m.activeDims << " JD_prior " << m.jdPrior << " TC " << m.totalCorrelation << "\n";
    ASSERT_EQ(m.jdEncode.size(), 2u);
    for (double v : m.jdEncode) EXPECT_TRUE(std::isfinite(v) && v >= 0);
    EXPECT_TRUE(std::isfinite(m.jdPrior));
    EXPECT_TRUE(std::isfinite(m.totalCorrelation));
    EXPECT_GE(m.activeDims, 0);
    EXPECT_LE(m.activeDims, 2);
    EXPECT_EQ(m.samples, 100000);
    EXPECT_LT(secs, 20.0);
}

TEST(LatentMetrics, BadInputIsRefusedWithClearMessages) {
    auto sys = makeSystem("gaussian");
    torch::Tensor data = sys->sample(500, 1);
    auto bundle = poorBundle(FeatureKind::XY, data, 0, 1);
    EXPECT_NE(thrownMessage([&] { computeLatentMetrics(bundle, torch::zeros({0, 2}, torch::kFloat64)); }).find("empty"),
              std::string::npos);
    std::string wrongD = thrownMessage([&] { computeLatentMetrics(bundle, torch::zeros({10, 3}, torch::kFloat64)); });
    EXPECT_NE(wrongD.find("3 features"), std::string::npos) << wrongD;
    EXPECT_NE(wrongD.find("expects 2"), std::string::npos) << wrongD;
    torch::Tensor bad = data.clone();
    bad[7][1] = std::nan("");
    std::string nanMsg = thrownMessage([&] { computeLatentMetrics(bundle, bad); });
    EXPECT_NE(nanMsg.find("row 7"), std::string::npos) << nanMsg;
    EXPECT_THROW(computeLatentMetrics(bundle, torch::zeros({10, 2, 1}, torch::kFloat64)), std::invalid_argument);
}

TEST(LatentMetrics, JdEncodeEqualsTheExplicitPairAverage) {
    auto gen = at::detail::createCPUGenerator(9);
    const int64_t n = 130, L = 2, bs = 40;  // three full batches and one of 10
    torch::Tensor mu = 3.0 + torch::randn({n, L}, gen, torch::kFloat64);
    torch::Tensor lv = -2.0 + torch::randn({n, L}, gen, torch::kFloat64);
    torch::Tensor sum = torch::zeros({L}, torch::kFloat64);
    double pairs = 0;
    for (int64_t s = 0; s < n; s += bs) {
        int64_t e = std::min(n, s + bs);
        for (int64_t a = s; a < e; a++)
            for (int64_t b = s; b < e; b++) {
                if (a == b) continue;
                sum += 0.5 * (gaussianKL(mu[a], lv[a], mu[b], lv[b]) + gaussianKL(mu[b], lv[b], mu[a], lv[a]));
                pairs++;
            }
    }
    torch::Tensor expected = sum / pairs, got = jdEncode(mu, lv, bs);
    for (int64_t k = 0; k < L; k++) EXPECT_NEAR(got[k].item<double>(), expected[k].item<double>(), 1e-10 * expected[k].item<double>());
}
