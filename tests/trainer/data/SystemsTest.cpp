// Built-in systems: energies against their formulas, data histograms against the densities.
#include "Systems.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace VAEPlugin;

namespace {

const double kPi = 3.14159265358979323846;

double lnN(double x, double mu) { return -0.5 * (x - mu) * (x - mu) - 0.5 * std::log(2 * kPi); }

double beltwayRadiusDensity(double r) {
    auto gamma = [](double r, double k, double b) {
        return std::exp(k * std::log(b) + (k - 1) * std::log(r) - b * r - std::lgamma(k));
    };
    return 0.5 * gamma(r, 40, 40) + 0.5 * gamma(r, 160, 80);
}

/**
 * Total-variation distance between the data histogram and the density integrated over the same bins
 * (both normalised over the grid), for features in [lo0, hi0] x [lo1, hi1].
 */
double histogramDistance(const System2D& sys, const torch::Tensor& data, double lo0, double hi0, double lo1,
                         double hi1, int bins) {
    std::vector<double> counts(bins * bins, 0.0), expected(bins * bins, 0.0);
    auto d = data.contiguous();
    const double* p = d.data_ptr<double>();
    double inside = 0;
    for (int64_t i = 0; i < d.size(0); i++) {
        int a = static_cast<int>(std::floor((p[2 * i] - lo0) / (hi0 - lo0) * bins));
        int b = static_cast<int>(std::floor((p[2 * i + 1] - lo1) / (hi1 - lo1) * bins));
        if (a < 0 || a >= bins || b < 0 || b >= bins) continue;
        counts[a * bins + b] += 1;
        inside += 1;
    }
    const int sub = 8;
    double total = 0;
    for (int a = 0; a < bins; a++)
        for (int b = 0; b < bins; b++) {
            double s = 0;
            for (int i = 0; i < sub; i++)
                for (int j = 0; j < sub; j++) {
                    double f0 = lo0 + (a + (i + 0.5) / sub) * (hi0 - lo0) / bins;
                    double f1 = lo1 + (b + (j + 0.5) / sub) * (hi1 - lo1) / bins;
                    s += std::exp(sys.featureLogDensity(f0, f1));
                }
            expected[a * bins + b] = s;
            total += s;
        }
    double tv = 0;
    for (int k = 0; k < bins * bins; k++) tv += std::abs(counts[k] / inside - expected[k] / total);
    return 0.5 * tv;
}

} // namespace

TEST(Systems, MuellerEnergyMatchesFormula) {
    const double A[4] = {-200, -100, -170, 15}, a[4] = {-1, -1, -6.5, 0.7}, b[4] = {0, 0, 11, 0.6},
                 c[4] = {-10, -10, -6.5, 0.7}, X[4] = {1, 0, -0.5, -1}, Y[4] = {0, 0.5, 1.5, 1};
    auto sys = makeSystem("mueller");
    for (auto [x, y] : std::vector<std::pair<double, double>>{{0, 0}, {-0.558, 1.442}, {0.623, 0.028}, {-1, 2}, {0.5, 0.5}}) {
        double u = 0;
        for (int j = 0; j < 4; j++)
            u += A[j] * std::exp(a[j] * (x - X[j]) * (x - X[j]) + b[j] * (x - X[j]) * (y - Y[j]) + c[j] * (y - Y[j]) * (y - Y[j]));
        EXPECT_NEAR(sys->energy(x, y), 0.1 * u, 1e-12);
    }
    // The deepest minimum of the unscaled potential is -146.70 at (-0.558, 1.442).
    EXPECT_NEAR(sys->energy(-0.558, 1.442), -14.670, 2e-3);
}

TEST(Systems, GaussianAndBimodalEnergies) {
    auto g = makeSystem("gaussian"), b = makeSystem("bimodal"), c = makeSystem("bimodal-correlated");
    for (auto [x, y] : std::vector<std::pair<double, double>>{{-3, -3}, {0, 1}, {3, -2.5}, {-40, 40}}) {
        EXPECT_NEAR(g->energy(x, y), -(lnN(x, -3) + lnN(y, -3)), 1e-10);
        auto m = [](double v) { return 0.6 * std::exp(lnN(v, -3)) + 0.4 * std::exp(lnN(v, 3)); };
        if (std::abs(x) < 20) {
            EXPECT_NEAR(b->energy(x, y), -std::log(m(x) * m(y)), 1e-10);
            EXPECT_NEAR(c->energy(x, y),
                        -std::log(0.6 * std::exp(lnN(x, -3) + lnN(y, -3)) + 0.4 * std::exp(lnN(x, 3) + lnN(y, 3))), 1e-10);
        } else {
            EXPECT_TRUE(std::isfinite(b->energy(x, y)));  // far tails: no underflow to infinity
            EXPECT_TRUE(std::isfinite(c->energy(x, y)));
        }
    }
}

TEST(Systems, BeltwayEnergiesIncludeJacobian) {
    auto xy = makeSystem("beltway-xy"), rt = makeSystem("beltway-rtheta");
    for (double r : {0.7, 1.0, 1.5, 2.0, 2.6})
        for (double theta : {-3.0, -0.5, 0.0, 2.0}) {
            double x = r * std::cos(theta), y = r * std::sin(theta);
            double expected = -std::log(beltwayRadiusDensity(r) / (2 * kPi)) + std::log(r);
            EXPECT_NEAR(xy->energy(x, y), expected, 1e-9);
            EXPECT_NEAR(rt->energy(x, y), expected, 1e-9);  // the particle's potential is the same
            EXPECT_NEAR(rt->featureLogDensity(r, theta), std::log(beltwayRadiusDensity(r) / (2 * kPi)), 1e-9);
            EXPECT_NEAR(xy->featureLogDensity(x, y), -expected, 1e-9);
        }
    EXPECT_TRUE(std::isinf(xy->energy(0, 0)));
    EXPECT_EQ(rt->featureKind(), FeatureKind::Polar);
    EXPECT_EQ(rt->periodic(), (std::vector<bool>{false, true}));
}

TEST(Systems, BatchedEnergyMatchesScalar) {
    auto sys = makeSystem("mueller");
    auto xy = torch::tensor({{0.0, 0.0}, {-0.5, 1.5}, {0.6, 0.03}}, torch::kFloat64);
    auto u = sys->energy(xy);
    for (int i = 0; i < 3; i++) EXPECT_DOUBLE_EQ(u[i].item<double>(), sys->energy(xy[i][0].item<double>(), xy[i][1].item<double>()));
}

TEST(Systems, UnknownSystemIsRejected) {
    try {
        makeSystem("muller");
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("unknown system 'muller'"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("mueller"), std::string::npos);
    }
}

TEST(Systems, SamplingIsReproducible) {
    for (const auto& name : systemNames()) {
        auto sys = makeSystem(name);
        auto a = sys->sample(500, 7), b = sys->sample(500, 7), c = sys->sample(500, 8);
        EXPECT_TRUE(torch::equal(a, b)) << name;
        EXPECT_FALSE(torch::equal(a, c)) << name;
        EXPECT_EQ(a.sizes(), (std::vector<int64_t>{500, 2}));
    }
}

struct HistogramCase {
    std::string name;
    double lo0, hi0, lo1, hi1;
};

void PrintTo(const HistogramCase& c, std::ostream* os) { *os << c.name; }

class SystemHistogram : public ::testing::TestWithParam<HistogramCase> {};

TEST_P(SystemHistogram, DataMatchDensity) {
    const auto& c = GetParam();
    auto sys = makeSystem(c.name);
    auto data = sys->sample(100000, 3);
    double tv = histogramDistance(*sys, data, c.lo0, c.hi0, c.lo1, c.hi1, 12);
    EXPECT_LT(tv, 0.03) << c.name;
    // A wrong density must fail the same check.
    auto other = makeSystem(c.name == "gaussian" ? "beltway-xy" : c.name == "bimodal" ? "bimodal-correlated" : "gaussian");
    if (c.name != "beltway-rtheta" && c.name != "beltway-xy" && c.name != "mueller")
        EXPECT_GT(histogramDistance(*other, data, c.lo0, c.hi0, c.lo1, c.hi1, 12), 0.1);
}

INSTANTIATE_TEST_SUITE_P(
    All, SystemHistogram,
    ::testing::Values(HistogramCase{"mueller", -1.5, 1.2, -0.5, 2.0}, HistogramCase{"gaussian", -6, 0, -6, 0},
                      HistogramCase{"bimodal", -6, 6, -6, 6}, HistogramCase{"bimodal-correlated", -6, 6, -6, 6},
                      HistogramCase{"beltway-xy", -3, 3, -3, 3}, HistogramCase{"beltway-rtheta", 0.4, 3.0, -kPi, kPi}),
    [](const auto& info) {
        std::string n = info.param.name;
        for (auto& ch : n)
            if (ch == '-') ch = '_';
        return n;
    });

TEST(Systems, MuellerBasinPopulationsAgreeWithQuadrature) {
    // Population of the region x < -0.2 (upper-left basin) from the data and from a fine grid.
    auto sys = makeSystem("mueller");
    auto data = sys->sample(100000, 11);
    double frac = (data.select(1, 0) < -0.2).to(torch::kFloat64).mean().item<double>();
    double inside = 0, total = 0;
    for (int i = 0; i < 600; i++)
        for (int j = 0; j < 600; j++) {
            double x = -2.0 + (i + 0.5) * 3.5 / 600, y = -1.0 + (j + 0.5) * 3.5 / 600;
            double w = std::exp(-sys->energy(x, y));
            total += w;
            if (x < -0.2) inside += w;
        }
    EXPECT_NEAR(frac, inside / total, 0.02);
}
