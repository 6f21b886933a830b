// The rational-quadratic spline, the prior's coupling flow and the decoder's MAF blocks: inverse of
// forward is the identity, log-determinants equal those of numerical Jacobians, identity outside
// the spline interval; MADE masks make each output independent of the features at or after it.
#include "ModelParts.h"
#include "ModelTestUtils.h"

#include <gtest/gtest.h>
#include <cmath>
#include <torch/torch.h>

using namespace VAEPlugin;
using namespace VAEPlugin::test;
using torch::indexing::Slice;

namespace {

torch::jit::Module makeSpline(double bound) {
    model_detail::Builder b(1);
    torch::jit::Module s = model_detail::buildSpline(b, 32, bound);
    s.to(torch::kFloat64);
    return s;
}

/** ln|det J| of f at each row of x by central differences; f maps [B, n] -> [B, n]. */
torch::Tensor numericalLogDet(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
                              double h = 1e-6) {
    const int64_t B = x.size(0), n = x.size(1);
    torch::Tensor jac = torch::empty({B, n, n}, torch::kFloat64);
    for (int64_t j = 0; j < n; ++j) {
        torch::Tensor xp = x.clone(), xm = x.clone();
        xp.select(1, j).add_(h);
        xm.select(1, j).sub_(h);
        jac.select(2, j).copy_((f(xp) - f(xm)) / (2 * h));
    }
    return std::get<1>(at::linalg_slogdet(jac));
}

} // namespace

TEST(Spline, InverseOfForwardAndLogDerivative) {
    for (double bound : {10.0, M_PI}) {
        SCOPED_TRACE(bound);
        torch::jit::Module s = makeSpline(bound);
        torch::manual_seed(1);
        const int64_t n = 2000;
        torch::Tensor x = (torch::rand({n}, torch::kFloat64) * 2 - 1) * 1.2 * bound;
        torch::Tensor rw = torch::randn({n, 32}, torch::kFloat64) * 2;
        torch::Tensor rh = torch::randn({n, 32}, torch::kFloat64) * 2;
        torch::Tensor rd = torch::randn({n, 31}, torch::kFloat64) * 2;
        auto fwd = callN(s, "forward", {x, torch::cat({rw, rh, rd}, -1)});
        auto inv = callN(s, "inverse", {fwd[0], torch::cat({rw, rh, rd}, -1)});
        EXPECT_LT((inv[0] - x).abs().max().item<double>(), 1e-6);
        EXPECT_LT((inv[1] + fwd[1]).abs().max().item<double>(), 1e-6);
        // Numerical derivative (central differences) with raw parameters of the scale a network
        // produces; with the extreme ones above the spline has slopes ~1e-7 that finite differences
        // in double cannot resolve to 1e-5.
        torch::Tensor rw1 = rw / 2, rh1 = rh / 2, rd1 = rd / 2;
        const double h = 1e-5;
        torch::Tensor ld = callN(s, "forward", {x, torch::cat({rw1, rh1, rd1}, -1)})[1];
        torch::Tensor yp = callN(s, "forward", {x + h, torch::cat({rw1, rh1, rd1}, -1)})[0];
        torch::Tensor ym = callN(s, "forward", {x - h, torch::cat({rw1, rh1, rd1}, -1)})[0];
        torch::Tensor num = torch::log((yp - ym) / (2 * h));
        EXPECT_LT((num - ld).abs().max().item<double>(), 1e-5);
        EXPECT_GT(ld.abs().max().item<double>(), 1.0); // a spline far from the identity
        // monotone, maps [-b, b] onto itself
        torch::Tensor ends = torch::tensor({-bound, bound}, torch::kFloat64);
        torch::Tensor yEnds =
            callN(s, "forward", {ends, torch::cat({rw, rh, rd}, -1).index({Slice(0, 2)})})[0];
        EXPECT_NEAR(yEnds[0].item<double>(), -bound, 1e-9);
        EXPECT_NEAR(yEnds[1].item<double>(), bound, 1e-9);
        EXPECT_TRUE(torch::isfinite(fwd[1]).all().item<bool>());
    }
}

TEST(Spline, IdentityOutsideInterval) {
    torch::jit::Module s = makeSpline(10.0);
    torch::manual_seed(2);
    torch::Tensor x = torch::tensor({-1e3, -50.0, -10.000001, 10.000001, 11.0, 1e4}, torch::kFloat64);
    torch::Tensor rw = torch::randn({6, 32}, torch::kFloat64) * 3;
    torch::Tensor rh = torch::randn({6, 32}, torch::kFloat64) * 3;
    torch::Tensor rd = torch::randn({6, 31}, torch::kFloat64) * 3;
    for (const char* dir : {"forward", "inverse"}) {
        auto out = callN(s, dir, {x, torch::cat({rw, rh, rd}, -1)});
        EXPECT_TRUE(torch::equal(out[0], x)) << dir;
        EXPECT_EQ(out[1].abs().max().item<double>(), 0.0) << dir;
    }
}

TEST(Spline, BinParametersFollowSpecification) {
    // With all raw parameters zero the spline is the identity: equal bins and unit slopes.
    torch::jit::Module s = makeSpline(10.0);
    torch::Tensor x = torch::linspace(-10, 10, 101, torch::kFloat64);
    torch::Tensor rw = torch::zeros({101, 32}, torch::kFloat64);
    torch::Tensor rd = torch::full({101, 31}, std::log(std::exp(1.0 - 0.01) - 1.0), torch::kFloat64);
    auto out = callN(s, "forward", {x, torch::cat({rw, rw, rd}, -1)});
    EXPECT_LT((out[0] - x).abs().max().item<double>(), 1e-12);
    EXPECT_LT(out[1].abs().max().item<double>(), 1e-12);
    // A dominant raw width: that bin gets 20 - 31 * 0.01 (others the minimum 0.01).
    torch::Tensor rw2 = torch::zeros({1, 32}, torch::kFloat64);
    rw2[0][0] = 1000;
    torch::Tensor rh2 = torch::zeros({1, 32}, torch::kFloat64);
    torch::Tensor rd2 = torch::zeros({1, 31}, torch::kFloat64);
    double edge = -10 + (20 - 32 * 0.01) + 0.01; // right edge of bin 0 -> left edge of bin 1 in y: -10 + 20/32
    auto y = callN(s, "forward", {torch::tensor({edge}, torch::kFloat64), torch::cat({rw2, rh2, rd2}, -1)})[0];
    EXPECT_NEAR(y.item<double>(), -10 + 20.0 / 32, 1e-9);
}

TEST(PriorFlow, InverseLogDetAndNumericalJacobian) {
    for (int L : {1, 2, 3, 4}) {
        SCOPED_TRACE(L);
        torch::jit::Module m = buildDouble(makeConfig("mse", 2, L, 8), 5 + L);
        torch::manual_seed(L);
        torch::Tensor eps = torch::randn({64, L}, torch::kFloat64) * 3;
        auto fwd = callN(m, "prior_forward", {eps});
        auto inv = callN(m, "prior_inverse", {fwd[0]});
        EXPECT_LT((inv[0] - eps).abs().max().item<double>(), 1e-6);
        EXPECT_LT((inv[1] + fwd[1]).abs().max().item<double>(), 1e-6);
        torch::Tensor num = numericalLogDet([&](const torch::Tensor& e) { return callN(m, "prior_forward", {e})[0]; }, eps);
        EXPECT_LT((num - fwd[1]).abs().max().item<double>(), 1e-5);
        // the flow changes something
        EXPECT_GT((fwd[0] - eps).abs().max().item<double>(), 1e-3);
        // ln P(z) = ln N(eps) + ln|det d eps/dz|
        torch::Tensor lp = call1(m, "prior_log_prob", {fwd[0]});
        torch::Tensor expect = -0.5 * (eps * eps).sum(1) - 0.5 * L * std::log(2 * M_PI) - fwd[1];
        EXPECT_LT((lp - expect).abs().max().item<double>(), 1e-9);
    }
}

TEST(PriorFlow, IdentityOutsideSplineInterval) {
    torch::jit::Module m = buildDouble(makeConfig("mse", 2, 1, 8), 3);
    torch::Tensor eps = torch::tensor({{-40.0}, {-10.5}, {10.5}, {25.0}}, torch::kFloat64);
    auto fwd = callN(m, "prior_forward", {eps});
    EXPECT_TRUE(torch::equal(fwd[0], eps));
    EXPECT_EQ(fwd[1].abs().max().item<double>(), 0.0);
    auto inv = callN(m, "prior_inverse", {eps});
    EXPECT_TRUE(torch::equal(inv[0], eps));
}

TEST(PriorFlow, OneDimensionalPriorIgnoresConditionerInputData) {
    // L = 1: the conditioner sees the constant 1, so each block is one fixed spline.
    torch::jit::Module m = buildDouble(makeConfig("mse", 2, 1, 8), 4);
    torch::Tensor e = torch::linspace(-3, 3, 7, torch::kFloat64).unsqueeze(1);
    torch::Tensor z1 = callN(m, "prior_forward", {e})[0];
    torch::Tensor z2 = callN(m, "prior_forward", {e.flip(0)})[0].flip(0);
    EXPECT_TRUE(torch::allclose(z1, z2, 0, 1e-14));
    EXPECT_TRUE((z1.diff(1, 0) > 0).all().item<bool>());
}

TEST(DecoderFlow, InverseLogDetAndNumericalJacobian) {
    for (auto periodic : std::vector<std::vector<bool>>{{false, false, false}, {true, false, true}}) {
        torch::jit::Module m = buildDouble(makeConfig("flow", 3, 2, 12, periodic), 9);
        torch::jit::Module flow = m.attr("decoder").toModule().attr("flow").toModule();
        torch::manual_seed(3);
        torch::Tensor u = (torch::rand({32, 3}, torch::kFloat64) * 2 - 1) * 3.3;
        torch::Tensor z = torch::randn({32, 2}, torch::kFloat64);
        auto fwd = callN(flow, "forward", {u, z});
        auto inv = callN(flow, "inverse", {fwd[0], z});
        EXPECT_LT((inv[0] - u).abs().max().item<double>(), 1e-6);
        EXPECT_LT((inv[1] + fwd[1]).abs().max().item<double>(), 1e-6);
        torch::Tensor num =
            numericalLogDet([&](const torch::Tensor& x) { return callN(flow, "inverse", {x, z})[0]; }, fwd[0]);
        EXPECT_LT((num - inv[1]).abs().max().item<double>(), 1e-5);
        EXPECT_GT((fwd[0] - u).abs().max().item<double>(), 1e-3);
    }
}

namespace {

/** grad[b, j] of out[:, i].sum() with respect to x; exactly zero where masked. */
torch::Tensor gradOf(const torch::Tensor& out, const torch::Tensor& x) {
    return torch::autograd::grad({out.sum()}, {x}, {}, /*retain_graph=*/true, false, /*allow_unused=*/true)[0];
}

} // namespace

TEST(MADE, AutoregressiveOutputsIgnoreCurrentAndLaterFeatures) {
    for (int D : {1, 2, 3, 5, 8}) {
        for (int H : {1, 3, 10, 40}) {
            SCOPED_TRACE("D=" + std::to_string(D) + " H=" + std::to_string(H));
            std::vector<bool> periodic(D, false);
            periodic[D / 2] = true; // a periodic feature: (cos, sin) inputs, 4 outputs
            torch::jit::Module m = buildDouble(makeConfig("autoregressive", D, 2, H, periodic), D * 100 + H);
            torch::jit::Module dec = m.attr("decoder").toModule();
            torch::Tensor x = torch::randn({6, D}, torch::kFloat64).requires_grad_(true);
            torch::Tensor z = torch::randn({6, 2}, torch::kFloat64);
            // per-feature output blocks [param_start[i], param_start[i + 1]) (the periodic one's 4 columns included)
            torch::Tensor out = call1(dec, "conditional_out", {x, z});
            torch::Tensor startT = dec.attr("param_start").toTensor();
            std::vector<int64_t> start(startT.data_ptr<int64_t>(), startT.data_ptr<int64_t>() + D + 1);
            bool anyEarlier = false;
            for (int i = 0; i < D; ++i) {
                for (int64_t c = start[i]; c < start[i + 1]; ++c) {
                    torch::Tensor g = gradOf(out.select(1, c), x);
                    if (!g.defined())
                        continue;
                    EXPECT_EQ(g.index({Slice(), Slice(i, D)}).abs().max().item<double>(), 0.0) << "feature " << i;
                    if (i > 0)
                        anyEarlier = anyEarlier || g.index({Slice(), Slice(0, i)}).abs().max().item<double>() > 0;
                }
            }
            if (D > 1)
                EXPECT_TRUE(anyEarlier) << "the MADE should use earlier features";
        }
    }
}

TEST(MADE, FlowBlocksAreAutoregressiveInTheirOrder) {
    for (int D : {1, 2, 4, 7}) {
        for (int H : {2, 9, 30}) {
            SCOPED_TRACE("D=" + std::to_string(D) + " H=" + std::to_string(H));
            torch::jit::Module m = buildDouble(makeConfig("flow", D, 1, H), D * 10 + H);
            torch::jit::Module flow = m.attr("decoder").toModule().attr("flow").toModule();
            for (int k = 0; k < 2; ++k) {
                torch::jit::Module block = flow.attr("block" + std::to_string(k)).toModule();
                const bool reversed = k == 1;
                EXPECT_EQ(block.attr("reversed").toBool(), reversed);
                torch::Tensor x = torch::randn({5, D}, torch::kFloat64).requires_grad_(true);
                torch::Tensor z = torch::randn({5, 1}, torch::kFloat64);
                torch::Tensor p = call1(block, "spline_params", {x, z}); // [B, D, 3K - 1]
                for (int i = 0; i < D; ++i) {
                    for (const torch::Tensor& t : {p}) {
                        torch::Tensor g = gradOf(t.select(1, i), x);
                        if (!g.defined())
                            continue;
                        // features at or after i in the block's order
                        torch::Tensor later = reversed ? g.index({Slice(), Slice(0, i + 1)})
                                                       : g.index({Slice(), Slice(i, D)});
                        EXPECT_EQ(later.abs().max().item<double>(), 0.0) << "block " << k << " feature " << i;
                    }
                }
            }
        }
    }
}

TEST(MADE, HiddenDegreesFollowSpecification) {
    // min(ceil(k (D-1)/(H+1)), D-1), k = 1..H
    EXPECT_EQ(model_detail::madeHiddenDegrees(1, 3), (std::vector<int64_t>{0, 0, 0}));
    EXPECT_EQ(model_detail::madeHiddenDegrees(3, 4), (std::vector<int64_t>{1, 1, 2, 2}));
    EXPECT_EQ(model_detail::madeHiddenDegrees(5, 3), (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(model_detail::madeHiddenDegrees(10, 2), (std::vector<int64_t>{3, 6}));
    for (int D : {2, 7, 66})
        for (int H : {1, 50, 300}) {
            auto deg = model_detail::madeHiddenDegrees(D, H);
            for (int k = 1; k <= H; ++k)
                EXPECT_EQ(deg[k - 1], std::min<int64_t>(static_cast<int64_t>(std::ceil(double(k) * (D - 1) / (H + 1))), D - 1));
        }
}
