// Every density integrates to 1 on a grid (decoders of each kind incl. von Mises, the prior), and
// the samplers draw from those densities (Kolmogorov-Smirnov against the grid CDF).
#include "ModelTestUtils.h"

#include <gtest/gtest.h>
#include <cmath>
#include <torch/torch.h>

using namespace VAEPlugin;
using namespace VAEPlugin::test;
using torch::indexing::None;
using torch::indexing::Slice;

namespace {

const char* kKinds[] = {"mse", "condind", "autoregressive", "flow"};

/** Evaluate f on rows of x in chunks (keeps memory small). */
torch::Tensor chunked(const torch::Tensor& x, const std::function<torch::Tensor(const torch::Tensor&)>& f,
                      int64_t chunk = 20000) {
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += chunk)
        parts.push_back(f(x.index({Slice(i, std::min(i + chunk, x.size(0)))})));
    return torch::cat(parts);
}

struct Grid1 {
    torch::Tensor points; // [n]
    torch::Tensor weights; // [n]
};

Grid1 grid1(double lo, double hi, int64_t n) {
    return {torch::linspace(lo, hi, n, torch::kFloat64), trapezoid(n, (hi - lo) / (n - 1))};
}

Grid1 featureGrid(bool periodic, int64_t n, double range) {
    return periodic ? grid1(-M_PI, M_PI, n) : grid1(-range, range, n);
}

/** Integral of exp(logDensity) over a 1-D or 2-D tensor grid. */
double integrate1(const Grid1& g, const std::function<torch::Tensor(const torch::Tensor&)>& logp) {
    torch::Tensor lp = chunked(g.points.unsqueeze(1), logp);
    return (torch::exp(lp) * g.weights).sum().item<double>();
}

double integrate2(const Grid1& g0, const Grid1& g1, const std::function<torch::Tensor(const torch::Tensor&)>& logp) {
    auto mesh = torch::meshgrid({g0.points, g1.points}, "ij");
    torch::Tensor pts = torch::stack({mesh[0].reshape(-1), mesh[1].reshape(-1)}, 1);
    torch::Tensor w = (g0.weights.unsqueeze(1) * g1.weights.unsqueeze(0)).reshape(-1);
    torch::Tensor lp = chunked(pts, logp);
    return (torch::exp(lp) * w).sum().item<double>();
}

/** Kolmogorov-Smirnov distance between samples and the CDF of exp(logp) tabulated on a grid. */
double ksDistance(const torch::Tensor& samples, const Grid1& g, const torch::Tensor& logp) {
    torch::Tensor p = torch::exp(logp);
    // cumulative trapezoid
    torch::Tensor mid = 0.5 * (p.index({Slice(1, None)}) + p.index({Slice(0, -1)})) *
                        (g.points.index({Slice(1, None)}) - g.points.index({Slice(0, -1)}));
    torch::Tensor cdf = torch::cat({torch::zeros({1}, torch::kFloat64), torch::cumsum(mid, 0)});
    cdf = cdf / cdf[-1];
    torch::Tensor s = std::get<0>(torch::sort(samples.to(torch::kFloat64).reshape(-1)));
    const int64_t n = s.size(0);
    torch::Tensor idx = torch::searchsorted(g.points, s).clamp(1, g.points.size(0) - 1);
    torch::Tensor x0 = g.points.index({idx - 1}), x1 = g.points.index({idx});
    torch::Tensor c0 = cdf.index({idx - 1}), c1 = cdf.index({idx});
    torch::Tensor model = c0 + (c1 - c0) * (s - x0) / (x1 - x0);
    torch::Tensor ecdfHi = torch::arange(1, n + 1, torch::kFloat64) / n;
    torch::Tensor ecdfLo = torch::arange(0, n, torch::kFloat64) / n;
    return std::max((ecdfHi - model).abs().max().item<double>(), (ecdfLo - model).abs().max().item<double>());
}

torch::Tensor repeatZ(const torch::Tensor& z, int64_t n) {
    return z.expand({n, z.size(1)});
}

} // namespace

TEST(Densities, DecodersNormalisedIn1D) {
    for (const char* kind : kKinds)
        for (bool periodic : {false, true}) {
            torch::jit::Module m = buildDouble(makeConfig(kind, 1, 2, 8, {periodic}), 17);
            torch::manual_seed(4);
            for (int trial = 0; trial < 2; ++trial) {
                torch::Tensor z = torch::randn({1, 2}, torch::kFloat64) * 1.5;
                Grid1 g = featureGrid(periodic, periodic ? 2001 : 16001, 40.0);
                double integral = integrate1(g, [&](const torch::Tensor& x) {
                    return call1(m, "decoder_log_prob", {x, repeatZ(z, x.size(0))});
                });
                EXPECT_NEAR(integral, 1.0, 1e-3) << kind << " periodic=" << periodic;
            }
        }
}

void checkNormalised2D(const char* kind) {
    for (auto periodic : std::vector<std::vector<bool>>{{false, false}, {true, false}}) {
        torch::jit::Module m = buildDouble(makeConfig(kind, 2, 1, 8, periodic), 23);
        torch::manual_seed(5);
        torch::Tensor z = torch::randn({1, 1}, torch::kFloat64);
        // spacing 0.06: resolves the flow decoder's spline bins (x-space width >= 0.03, ~0.6 on average)
        Grid1 g0 = featureGrid(periodic[0], periodic[0] ? 201 : 401, 12.0), g1 = featureGrid(periodic[1], 401, 12.0);
        double integral = integrate2(g0, g1, [&](const torch::Tensor& x) {
            return call1(m, "decoder_log_prob", {x, repeatZ(z, x.size(0))});
        });
        EXPECT_NEAR(integral, 1.0, 1e-3) << kind << " periodic=" << periodic[0] << periodic[1];
    }
}

TEST(Densities, MSEDecoderNormalisedIn2D) { checkNormalised2D("mse"); }
TEST(Densities, CondIndDecoderNormalisedIn2D) { checkNormalised2D("condind"); }
TEST(Densities, AutoregressiveDecoderNormalisedIn2D) { checkNormalised2D("autoregressive"); }
TEST(Densities, FlowDecoderNormalisedIn2D) { checkNormalised2D("flow"); }

TEST(Densities, PriorNormalised1D) {
    torch::jit::Module m1 = buildDouble(makeConfig("mse", 2, 1, 8), 31);
    double i1 = integrate1(grid1(-15, 15, 30001), [&](const torch::Tensor& z) { return call1(m1, "prior_log_prob", {z}); });
    EXPECT_NEAR(i1, 1.0, 1e-3);
}

TEST(Densities, PriorNormalised2D) {
    torch::jit::Module m2 = buildDouble(makeConfig("mse", 2, 2, 8), 37);
    Grid1 g = grid1(-12, 12, 401);
    double i2 = integrate2(g, g, [&](const torch::Tensor& z) { return call1(m2, "prior_log_prob", {z}); });
    EXPECT_NEAR(i2, 1.0, 1e-3);
}

TEST(Densities, VonMisesSamplerMatchesDensity) {
    torch::jit::Module m = buildDouble(makeConfig("condind", 1, 1, 4, {true}), 1);
    torch::jit::Module dist = m.attr("decoder").toModule().attr("dist").toModule();
    torch::manual_seed(6);
    const int64_t n = 100000;
    for (double kappa : {1e-4, 0.7, 4.0, 300.0, 1e5}) {
        SCOPED_TRACE(kappa);
        const double mean = 2.5;
        torch::Tensor c = torch::full({n, 1}, std::cos(mean) * 3, torch::kFloat64);
        torch::Tensor s = torch::full({n, 1}, std::sin(mean) * 3, torch::kFloat64);
        torch::Tensor lv = torch::full({n, 1}, -std::log(kappa), torch::kFloat64);
        torch::Tensor noise = torch::rand({n, 1}, torch::kFloat64);
        torch::Tensor x = call1(dist, "sample", {noise, c, s, lv});
        EXPECT_TRUE((x.abs() <= M_PI).all().item<bool>());
        // deviation from the mean, wrapped
        torch::Tensor t = torch::remainder(x - mean + M_PI, 2 * M_PI) - M_PI;
        const double half = std::min(M_PI, 12.0 / std::sqrt(kappa));
        Grid1 g = grid1(-half, half, 200001);
        int64_t ng = g.points.size(0);
        torch::Tensor lp = call1(dist, "log_prob", {(g.points + mean).unsqueeze(1), c.index({Slice(0, 1)}).expand({ng, 1}),
                                                    s.index({Slice(0, 1)}).expand({ng, 1}),
                                                    lv.index({Slice(0, 1)}).expand({ng, 1})});
        EXPECT_NEAR((torch::exp(lp) * g.weights).sum().item<double>(), 1.0, 1e-3);
        EXPECT_LT(ksDistance(t, g, lp), 1.63 / std::sqrt(double(n)));
        // mean resultant length I1/I0
        double r = torch::cos(t).mean().item<double>();
        double expect = torch::special_i1e(torch::tensor(kappa, torch::kFloat64)).item<double>() /
                        torch::special_i0e(torch::tensor(kappa, torch::kFloat64)).item<double>();
        EXPECT_NEAR(r, expect, 5 * std::sqrt((1 - expect * expect) / n) + 1e-9);
    }
}

TEST(Densities, DecoderSamplesMatchDensity1D) {
    const int64_t n = 20000;
    for (const char* kind : kKinds)
        for (bool periodic : {false, true}) {
            SCOPED_TRACE(std::string(kind) + (periodic ? " periodic" : ""));
            torch::jit::Module m = buildDouble(makeConfig(kind, 1, 1, 8, {periodic}), 41);
            torch::manual_seed(7);
            torch::Tensor z = torch::randn({1, 1}, torch::kFloat64);
            torch::Tensor noise = torch::rand({n, 1}, torch::kFloat64);
            torch::Tensor x = call1(m, "decoder_sample", {repeatZ(z, n), noise});
            Grid1 g = featureGrid(periodic, periodic ? 4001 : 16001, 40.0);
            torch::Tensor lp = call1(m, "decoder_log_prob", {g.points.unsqueeze(1), repeatZ(z, g.points.size(0))});
            EXPECT_LT(ksDistance(x, g, lp), 1.63 / std::sqrt(double(n)));
        }
}

TEST(Densities, SequentialSamplingMatchesDensity2D) {
    // autoregressive and flow decoders sample sequentially; compare the sample means with the grid.
    const int64_t n = 20000;
    for (const char* kind : {"autoregressive", "flow"}) {
        SCOPED_TRACE(kind);
        torch::jit::Module m = buildDouble(makeConfig(kind, 2, 1, 8), 43);
        torch::manual_seed(8);
        torch::Tensor z = torch::randn({1, 1}, torch::kFloat64);
        torch::Tensor x = call1(m, "decoder_sample", {repeatZ(z, n), torch::rand({n, 2}, torch::kFloat64)});
        Grid1 g = grid1(-15, 15, 301);
        auto mesh = torch::meshgrid({g.points, g.points}, "ij");
        torch::Tensor pts = torch::stack({mesh[0].reshape(-1), mesh[1].reshape(-1)}, 1);
        torch::Tensor w = (g.weights.unsqueeze(1) * g.weights.unsqueeze(0)).reshape(-1);
        torch::Tensor p = torch::exp(chunked(pts, [&](const torch::Tensor& xx) {
                              return call1(m, "decoder_log_prob", {xx, repeatZ(z, xx.size(0))});
                          })) * w;
        for (int k = 0; k < 2; ++k) {
            torch::Tensor col = pts.select(1, k);
            double mean = (p * col).sum().item<double>();
            double var = (p * col * col).sum().item<double>() - mean * mean;
            EXPECT_NEAR(x.select(1, k).mean().item<double>(), mean, 5 * std::sqrt(var / n)) << "feature " << k;
            EXPECT_NEAR(x.select(1, k).var().item<double>(), var, 0.1 * var) << "feature " << k;
        }
        double cov = (p * pts.select(1, 0) * pts.select(1, 1)).sum().item<double>() -
                     (p * pts.select(1, 0)).sum().item<double>() * (p * pts.select(1, 1)).sum().item<double>();
        double scov = ((x.select(1, 0) - x.select(1, 0).mean()) * (x.select(1, 1) - x.select(1, 1).mean())).mean().item<double>();
        double sd = std::sqrt(x.select(1, 0).var().item<double>() * x.select(1, 1).var().item<double>());
        EXPECT_NEAR(scov, cov, 5 * sd / std::sqrt(double(n)));
    }
}

TEST(Densities, AutoregressiveSampleIsTheDensitysConditionals) {
    // The sampler computes only feature i's outputs, with the hidden layer updated one feature at a
    // time; the density evaluates the whole MADE at once. By the masks, the density's parameters of
    // feature i at the sampled x are those the sampler drew x_i from: Gaussian features must be their
    // inverse CDF at the noise, von Mises ones lie on the side of the mean the noise chose.
    const std::vector<bool> periodic = {false, true, false, true, true, false, false};
    const int64_t D = periodic.size(), n = 500;
    for (int hidden : {16, 4}) {  // 4 < D - 1: some degrees have no hidden unit
    SCOPED_TRACE(hidden);
    torch::jit::Module m = buildDouble(makeConfig("autoregressive", D, 2, hidden, periodic), 47);
    torch::jit::Module decoder = m.attr("decoder").toModule();
    torch::manual_seed(9);
    torch::Tensor z = torch::randn({n, 2}, torch::kFloat64);
    torch::Tensor noise = torch::rand({n, D}, torch::kFloat64);
    torch::Tensor x = call1(m, "decoder_sample", {z, noise});
    torch::Tensor out = call1(decoder, "conditional_out", {x, z});
    torch::Tensor startT = decoder.attr("param_start").toTensor();
    for (int64_t i = 0; i < D; ++i) {
        SCOPED_TRACE(i);
        torch::Tensor xi = x.select(1, i), ui = noise.select(1, i);
        const int64_t c = startT[i].item<int64_t>();  // block: [loc, logvar] or [logit, c, s, logvar] (K = 1)
        if (!periodic[i]) {
            torch::Tensor lv = out.select(1, c + 1).clamp_min(-15.0);
            torch::Tensor expect = out.select(1, c) + torch::exp(0.5 * lv) * std::sqrt(2.0) * torch::erfinv(2 * ui - 1);
            EXPECT_LT((xi - expect).abs().max().item<double>(), 1e-9);
        } else {
            torch::Tensor mean = torch::atan2(out.select(1, c + 2), out.select(1, c + 1));
            torch::Tensor side = torch::remainder(xi - mean + M_PI, 2 * M_PI) - M_PI;
            EXPECT_TRUE(((side >= 0) == (ui > 0.5)).all().item<bool>());
            EXPECT_TRUE((xi.abs() <= M_PI).all().item<bool>());
        }
    }
    // and the density of the sample is finite
    EXPECT_TRUE(torch::isfinite(call1(m, "decoder_log_prob", {x, z})).all().item<bool>());
    }
}
