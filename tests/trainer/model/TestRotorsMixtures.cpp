// The proposals that fit molecules (spec of issue 20, sections 1-3 and 5): (cos, sin) conditioner
// columns of the masked networks, von Mises mixtures in the autoregressive decoder, rotor
// multiplicity in every decoder, and the noise slots of decoder_sample. Autoregressive masks,
// normalisation of every density and conditional, samples against the density (chi-square),
// reproducibility from the noise slots, save/load, configuration errors.
#include "ModelParts.h"
#include "ModelTestUtils.h"
#include "../../cpp/common/ChiSquare.h"  // the one chi-square of the exactness checks

#include <gtest/gtest.h>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <torch/torch.h>

using namespace VAEPlugin;
using namespace VAEPlugin::test;
using torch::indexing::Slice;

namespace {

ModelConfig rotorConfig(const std::string& kind, std::vector<bool> periodic, std::vector<int> mult, int K,
                        int latent = 1, int hidden = 8) {
    const int D = periodic.size();
    ModelConfig c = makeConfig(kind, D, latent, hidden, std::move(periodic));
    c.multiplicity = std::move(mult);
    c.mixtureComponents = K;
    return c;
}

torch::Tensor repeatZ(const torch::Tensor& z, int64_t n) { return z.expand({n, z.size(1)}); }

std::vector<int64_t> indexAttr(const torch::jit::Module& m, const std::string& name) {
    torch::Tensor t = m.attr(name).toTensor();
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

/** Integral of exp(decoder_log_prob) over a 1-D grid (trapezoid) for a fixed z. */
double integrate1(torch::jit::Module& m, const torch::Tensor& z, double lo, double hi, int64_t n) {
    torch::Tensor x = torch::linspace(lo, hi, n, torch::kFloat64).unsqueeze(1);
    torch::Tensor p = torch::exp(call1(m, "decoder_log_prob", {x, repeatZ(z, n)}));
    return (p * trapezoid(n, (hi - lo) / (n - 1))).sum().item<double>();
}

/** Rows of all (a, b) pairs of two 1-D grids, a major. */
torch::Tensor mesh(const torch::Tensor& a, const torch::Tensor& b) {
    auto g = torch::meshgrid({a, b}, "ij");
    return torch::stack({g[0].reshape(-1), g[1].reshape(-1)}, 1);
}

/**
 * Chi-square of decoder samples x [n, 2] (given z) against exp(decoder_log_prob) on the box
 * [a0, a1) x [b0, b1), 12 x 12 bins: the density is evaluated in one batch on the midpoints that
 * VAETest::chiSquare integrates with (12 per bin and axis) and looked up there.
 */
double chiSquareOfDecoder(torch::jit::Module& m, const torch::Tensor& z, const torch::Tensor& x, double a0, double a1,
                          double b0, double b1, int* dof) {
    const int bins = 12, sub = 12, fine = bins * sub;
    const double fa = (a1 - a0) / fine, fb = (b1 - b0) / fine;
    torch::Tensor ga = a0 + (torch::arange(fine, torch::kFloat64) + 0.5) * fa;
    torch::Tensor gb = b0 + (torch::arange(fine, torch::kFloat64) + 0.5) * fb;
    torch::Tensor pts = mesh(ga, gb);
    torch::Tensor lp = call1(m, "decoder_log_prob", {pts, repeatZ(z, pts.size(0))}).contiguous();
    auto acc = lp.accessor<double, 1>();
    auto density = [&](double a, double b) {
        int64_t i = std::clamp<int64_t>(static_cast<int64_t>(std::floor((a - a0) / fa)), 0, fine - 1);
        int64_t j = std::clamp<int64_t>(static_cast<int64_t>(std::floor((b - b0) / fb)), 0, fine - 1);
        return acc[i * fine + j];
    };
    auto xa = x.accessor<double, 2>();
    std::vector<std::pair<double, double>> samples;
    for (int64_t k = 0; k < x.size(0); ++k)
        samples.push_back({xa[k][0], xa[k][1]});
    return VAETest::chiSquare(samples, density, a0, a1, bins, b0, b1, bins, dof);
}

bool passes(double chi2, int dof) { return chi2 < dof + 6.0 * std::sqrt(2.0 * dof); }

/** Box edges for a feature: [-pi, pi) if periodic, else the sample range widened by 10 %. */
std::pair<double, double> boxOf(const torch::Tensor& col, bool periodic) {
    if (periodic)
        return {-M_PI, M_PI};
    double lo = col.min().item<double>(), hi = col.max().item<double>(), pad = 0.1 * (hi - lo);
    return {lo - pad, hi + pad};
}

/** Gradient of out.sum() with respect to x (undefined where x is unused). */
torch::Tensor gradOf(const torch::Tensor& out, const torch::Tensor& x) {
    return torch::autograd::grad({out.sum()}, {x}, {}, /*retain_graph=*/true, false, /*allow_unused=*/true)[0];
}

} // namespace

TEST(ConditionerColumns, InterleavedCosSinInFeatureOrder) {
    // D = 4, P = 2: feature 0 -> x_0; feature 1 -> cos (D + 0), sin (D + P + 0); feature 2 -> x_2; feature 3 -> 5, 7
    EXPECT_EQ(model_detail::conditionerIndex({false, true, false, true}), (std::vector<int64_t>{0, 4, 6, 2, 5, 7}));
    EXPECT_EQ(model_detail::conditionerIndex({true}), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(model_detail::conditionerIndex({false, false}), (std::vector<int64_t>{0, 1}));
    torch::jit::Module m = buildVAE(rotorConfig("autoregressive", {false, true, false, true}, {1, 3, 1, 2}, 3, 2, 10), 5);
    torch::jit::Module dec = m.attr("decoder").toModule();
    EXPECT_EQ(indexAttr(dec, "conditioner_index"), (std::vector<int64_t>{0, 4, 6, 2, 5, 7}));
    EXPECT_EQ(dec.attr("made_hidden_weight").toTensor().sizes(), torch::IntArrayRef({10, 6}));
    EXPECT_EQ(dec.attr("num_components").toInt(), 3);
    EXPECT_EQ(indexAttr(dec, "param_start"), (std::vector<int64_t>{0, 2, 14, 16, 28}));
    EXPECT_EQ(indexAttr(dec, "multiplicity"), (std::vector<int64_t>{1, 3, 1, 2}));
    EXPECT_EQ(dec.attr("made_out_weight").toTensor().size(0), 28);
    for (const char* kind : {"mse", "condind", "flow"}) {
        torch::jit::Module mk = buildVAE(rotorConfig(kind, {false, true}, {1, 4}, 1), 5);
        EXPECT_EQ(indexAttr(mk.attr("decoder").toModule(), "multiplicity"), (std::vector<int64_t>{1, 4})) << kind;
    }
    // the flow decoder's MAF blocks see (cos, sin) of their periodic inputs
    torch::jit::Module f = buildVAE(rotorConfig("flow", {false, true, false, true}, {}, 1, 1, 10), 5);
    torch::jit::Module block = f.attr("decoder").toModule().attr("flow").toModule().attr("block0").toModule();
    EXPECT_EQ(indexAttr(block, "conditioner_index"), (std::vector<int64_t>{0, 4, 6, 2, 5, 7}));
    EXPECT_EQ(block.attr("made_hidden_weight").toTensor().sizes(), torch::IntArrayRef({10, 6}));
}

TEST(ConditionerColumns, MixtureOutputsIgnoreCurrentAndLaterFeatures) {
    // every column of feature i's output block (param_start) depends only on x_<i; likewise each
    // feature's ln p term: perturbing x_j leaves the density's terms of features <= j unchanged
    const std::vector<std::vector<bool>> patterns = {{true}, {true, false, true}, {false, true, true, false, true}};
    for (const auto& periodic : patterns)
        for (int H : {1, 4, 30}) {
            const int D = periodic.size();
            SCOPED_TRACE("D=" + std::to_string(D) + " H=" + std::to_string(H));
            std::vector<int> mult(D, 1);
            for (int i = 0; i < D; ++i)
                if (periodic[i])
                    mult[i] = 1 + i % 3;
            torch::jit::Module m = buildDouble(rotorConfig("autoregressive", periodic, mult, 3, 2, H), 7 * D + H);
            torch::jit::Module dec = m.attr("decoder").toModule();
            std::vector<int64_t> start = indexAttr(dec, "param_start");
            torch::manual_seed(D + H);
            torch::Tensor x = (torch::randn({6, D}, torch::kFloat64) * 2).requires_grad_(true);
            torch::Tensor z = torch::randn({6, 2}, torch::kFloat64);
            torch::Tensor out = call1(dec, "conditional_out", {x, z});
            ASSERT_EQ(out.size(1), start[D]);
            bool anyEarlier = false;
            for (int i = 0; i < D; ++i)
                for (int64_t c = start[i]; c < start[i + 1]; ++c) {
                    torch::Tensor g = gradOf(out.select(1, c), x);
                    if (!g.defined())
                        continue;
                    EXPECT_EQ(g.index({Slice(), Slice(i, D)}).abs().max().item<double>(), 0.0) << "feature " << i;
                    if (i > 0)
                        anyEarlier = anyEarlier || g.index({Slice(), Slice(0, i)}).abs().max().item<double>() > 0;
                }
            if (D > 1 && H > 1)
                EXPECT_TRUE(anyEarlier) << "the MADE should use earlier features";
        }
}

TEST(ConditionerColumns, FlowBlocksWithPeriodicInputsAreAutoregressive) {
    const std::vector<bool> periodic = {true, false, true, true};
    const int D = periodic.size();
    torch::jit::Module m = buildDouble(rotorConfig("flow", periodic, {2, 1, 1, 3}, 1, 1, 9), 3);
    torch::jit::Module flow = m.attr("decoder").toModule().attr("flow").toModule();
    for (int k = 0; k < 2; ++k) {
        torch::jit::Module block = flow.attr("block" + std::to_string(k)).toModule();
        const bool reversed = k == 1;
        torch::Tensor x = torch::randn({5, D}, torch::kFloat64).requires_grad_(true);
        torch::Tensor z = torch::randn({5, 1}, torch::kFloat64);
        torch::Tensor p = call1(block, "spline_params", {x, z});
        for (int i = 0; i < D; ++i) {
            torch::Tensor g = gradOf(p.select(1, i), x);
            if (!g.defined())
                continue;
            torch::Tensor later = reversed ? g.index({Slice(), Slice(0, i + 1)}) : g.index({Slice(), Slice(i, D)});
            EXPECT_EQ(later.abs().max().item<double>(), 0.0) << "block " << k << " feature " << i;
        }
    }
}

TEST(RotorMixture, DecodersNormalisedWithMultiplicity1D) {
    struct C { const char* kind; int m, K; };
    for (const C& c : {C{"mse", 3, 1}, C{"condind", 3, 1}, C{"autoregressive", 3, 3}, C{"autoregressive", 1, 3},
                       C{"autoregressive", 2, 1}, C{"flow", 3, 1}}) {
        SCOPED_TRACE(std::string(c.kind) + " m=" + std::to_string(c.m) + " K=" + std::to_string(c.K));
        torch::jit::Module m = buildDouble(rotorConfig(c.kind, {true}, {c.m}, c.K, 2), 19);
        torch::manual_seed(4);
        for (int trial = 0; trial < 2; ++trial) {
            torch::Tensor z = torch::randn({1, 2}, torch::kFloat64) * 1.5;
            EXPECT_NEAR(integrate1(m, z, -M_PI, M_PI, 20001), 1.0, 1e-4);
        }
    }
}

TEST(RotorMixture, AutoregressiveConditionalsNormalised2D) {
    // D = 2 periodic, K = 3, m = (3, 2): for fixed x_0, the integral over x_1 of P(x_0, x_1) is the
    // marginal of x_0 (feature 0's mixture, from the first output block); the whole density integrates to 1
    torch::jit::Module m = buildDouble(rotorConfig("autoregressive", {true, true}, {3, 2}, 3, 1, 8), 29);
    torch::jit::Module dec = m.attr("decoder").toModule(), dist = dec.attr("dist").toModule();
    torch::manual_seed(5);
    torch::Tensor z = torch::randn({1, 1}, torch::kFloat64);
    const int64_t n = 1601;
    torch::Tensor g = torch::linspace(-M_PI, M_PI, n, torch::kFloat64);
    torch::Tensor w = trapezoid(n, 2 * M_PI / (n - 1));
    for (double x0 : {-3.0, -1.2, 0.4, 2.9}) {
        torch::Tensor x = torch::stack({torch::full({n}, x0, torch::kFloat64), g}, 1);
        torch::Tensor lp = call1(m, "decoder_log_prob", {x, repeatZ(z, n)});
        torch::Tensor out = call1(dec, "conditional_out", {x.index({Slice(0, 1)}), z});
        torch::Tensor marginal = call1(dist, "mixture_log_prob", {torch::full({1, 1, 1}, 3 * x0, torch::kFloat64),
                                                                  out.index({Slice(), Slice(0, 12)}).reshape({1, 1, 4, 3})});
        EXPECT_NEAR((torch::exp(lp) * w).sum().item<double>() / std::exp(marginal.item<double>()), 1.0, 1e-6) << x0;
    }
    const int64_t n2 = 601;
    torch::Tensor g2 = torch::linspace(-M_PI, M_PI, n2, torch::kFloat64), w2 = trapezoid(n2, 2 * M_PI / (n2 - 1));
    torch::Tensor p = torch::exp(call1(m, "decoder_log_prob", {mesh(g2, g2), repeatZ(z, n2 * n2)}));
    EXPECT_NEAR((p * (w2.unsqueeze(1) * w2.unsqueeze(0)).reshape(-1)).sum().item<double>(), 1.0, 1e-5);
}

TEST(RotorMixture, DecodersNormalised2DMixedFeatures) {
    struct C { const char* kind; std::vector<bool> periodic; std::vector<int> m; int K; };
    for (const C& c : {C{"autoregressive", {true, false}, {3, 1}, 2}, C{"autoregressive", {false, true}, {1, 3}, 3},
                       C{"condind", {false, true}, {1, 3}, 1}, C{"flow", {true, false}, {3, 1}, 1}}) {
        SCOPED_TRACE(std::string(c.kind) + (c.periodic[0] ? " periodic first" : " periodic second"));
        torch::jit::Module m = buildDouble(rotorConfig(c.kind, c.periodic, c.m, c.K), 31);
        torch::manual_seed(6);
        torch::Tensor z = torch::randn({1, 1}, torch::kFloat64);
        // spacing: 0.06 / m on the periodic axis resolves the flow's spline bins (see TestDensities)
        auto axis = [](bool periodic) {
            const int64_t n = periodic ? 601 : 401;
            const double lo = periodic ? -M_PI : -12, hi = periodic ? M_PI : 12;
            return std::make_pair(torch::linspace(lo, hi, n, torch::kFloat64), trapezoid(n, (hi - lo) / (n - 1)));
        };
        auto [g0, w0] = axis(c.periodic[0]);
        auto [g1, w1] = axis(c.periodic[1]);
        torch::Tensor pts = mesh(g0, g1);
        torch::Tensor p = torch::exp(call1(m, "decoder_log_prob", {pts, repeatZ(z, pts.size(0))}));
        EXPECT_NEAR((p * (w0.unsqueeze(1) * w1.unsqueeze(0)).reshape(-1)).sum().item<double>(), 1.0, 1e-3);
    }
}

TEST(RotorMixture, SamplesFollowTheDensityChiSquare) {
    // D = 2, one periodic feature with m = 3 (K = 2 for the autoregressive decoder), n = 20000
    struct C { const char* kind; std::vector<bool> periodic; std::vector<int> m; int K; };
    const int64_t n = 20000;
    for (const C& c : {C{"autoregressive", {true, false}, {3, 1}, 2}, C{"autoregressive", {false, true}, {1, 3}, 2},
                       C{"mse", {true, false}, {3, 1}, 1}, C{"condind", {false, true}, {1, 3}, 1},
                       C{"flow", {true, false}, {3, 1}, 1}}) {
        SCOPED_TRACE(std::string(c.kind) + (c.periodic[0] ? " periodic first" : " periodic second"));
        torch::jit::Module m = buildDouble(rotorConfig(c.kind, c.periodic, c.m, c.K, 1, 8), 37);
        {
            // more structure than the initialisation gives: distinct components, varied concentrations
            torch::NoGradGuard guard;
            torch::manual_seed(11);
            torch::Tensor bias = m.attr("decoder").toModule().attr("out_bias").toTensor();
            bias.copy_(torch::randn_like(bias) * 1.5);
        }
        torch::manual_seed(8);
        torch::Tensor z = torch::randn({1, 1}, torch::kFloat64);
        torch::Tensor x = call1(m, "decoder_sample", {repeatZ(z, n), torch::rand({n, 2}, torch::kFloat64)});
        ASSERT_TRUE(torch::isfinite(x).all().item<bool>());
        auto [a0, a1] = boxOf(x.select(1, 0), c.periodic[0]);
        auto [b0, b1] = boxOf(x.select(1, 1), c.periodic[1]);
        int dof = 0;
        double chi2 = chiSquareOfDecoder(m, z, x, a0, a1, b0, b1, &dof);
        EXPECT_TRUE(passes(chi2, dof)) << "chi2 " << chi2 << " dof " << dof;
        EXPECT_GT(dof, 50);
    }
}

TEST(NoiseSlots, IdenticalNoiseGivesIdenticalSamples) {
    // [B, D, S] noise with 40 Best-Fisher tries: the samples do not depend on torch's generator
    const std::vector<bool> periodic = {true, false, true};
    for (const char* kind : {"mse", "condind", "autoregressive", "flow"}) {
        SCOPED_TRACE(kind);
        const int K = std::string(kind) == "autoregressive" ? 2 : 1;
        torch::jit::Module m = buildDouble(rotorConfig(kind, periodic, {3, 1, 1}, K, 2), 41);
        torch::manual_seed(1);
        torch::Tensor z = torch::randn({50, 2}, torch::kFloat64);
        torch::Tensor noise = torch::rand({50, 3, 3 + 2 * 40}, torch::kFloat64);
        torch::manual_seed(2);
        torch::Tensor a = call1(m, "decoder_sample", {z, noise});
        torch::manual_seed(3);
        torch::Tensor b = call1(m, "decoder_sample", {z, noise});
        EXPECT_TRUE(torch::equal(a, b));
        EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
        // slot 0 of a 3-D noise is the 2-D noise's column: Gaussian features agree with [B, D] noise
        torch::Tensor c = call1(m, "decoder_sample", {z, noise.select(2, 0).contiguous()});
        if (std::string(kind) != "flow" && std::string(kind) != "autoregressive")
            EXPECT_TRUE(torch::allclose(c.select(1, 1), a.select(1, 1), 0, 1e-12));
    }
}

TEST(NoiseSlots, ComponentAndRotorSlotsChooseComponentAndBranch) {
    // A single periodic feature, K = 2 components at means 0 and pi/2 with kappa = e^10 and equal
    // weights, m = 3: slot 1 < 0.5 picks component 0, slot 2 = v picks branch k = floor(3 v):
    // x = wrap((mean + 2 pi k) / 3) up to the von Mises spread.
    torch::jit::Module m = buildDouble(rotorConfig("autoregressive", {true}, {3}, 2), 43);
    torch::jit::Module dec = m.attr("decoder").toModule();
    {
        torch::NoGradGuard guard;
        for (const char* p : {"out_weight", "made_out_weight", "made_out_skip_weight", "made_out_bias"})
            dec.attr(p).toTensor().zero_();
        // [logits (2), c (2), s (2), logvar (2)]
        dec.attr("out_bias").toTensor().copy_(torch::tensor({0.0, 0.0, 1.0, 0.0, 0.0, 1.0, -10.0, -10.0}, torch::kFloat64));
    }
    const int64_t B = 12;
    torch::Tensor noise = torch::rand({B, 1, 3 + 2 * 20}, torch::kFloat64);
    std::vector<double> comp(B), branch(B);
    for (int64_t r = 0; r < B; ++r) {
        comp[r] = (r % 2 == 0) ? 0.2 : 0.8;
        branch[r] = (r / 2) / 6.0 + 0.01;  // v in each third
        noise[r][0][1] = comp[r];
        noise[r][0][2] = branch[r];
    }
    torch::Tensor x = call1(m, "decoder_sample", {torch::zeros({B, 1}, torch::kFloat64), noise});
    for (int64_t r = 0; r < B; ++r) {
        const double mean = comp[r] < 0.5 ? 0.0 : M_PI / 2;
        const int k = std::min(static_cast<int>(std::floor(3 * branch[r])), 2);
        const double expect = std::remainder((mean + 2 * M_PI * k) / 3, 2 * M_PI);
        const double d = std::remainder(x[r][0].item<double>() - expect, 2 * M_PI);
        EXPECT_LT(std::abs(d), 0.1 / 3) << "row " << r;
    }
}

TEST(RotorMixture, SaveAndLoadGiveTheSameNumbers) {
    struct C { const char* kind; int K; };
    for (const C& c : {C{"autoregressive", 3}, C{"flow", 1}, C{"condind", 1}}) {
        torch::jit::Module m = buildDouble(rotorConfig(c.kind, {true, false, true}, {3, 1, 2}, c.K, 2), 12);
        std::stringstream buffer;
        m.save(buffer);
        torch::jit::Module loaded = torch::jit::load(buffer);
        torch::Tensor x = torch::randn({5, 3}, torch::kFloat64);
        torch::Tensor z = torch::randn({5, 2}, torch::kFloat64);
        EXPECT_TRUE(torch::equal(call1(m, "decoder_log_prob", {x, z}), call1(loaded, "decoder_log_prob", {x, z}))) << c.kind;
        torch::Tensor noise = torch::rand({5, 3, 3 + 2 * 40}, torch::kFloat64);
        EXPECT_TRUE(torch::equal(call1(m, "decoder_sample", {z, noise}), call1(loaded, "decoder_sample", {z, noise}))) << c.kind;
        EXPECT_EQ(indexAttr(loaded.attr("decoder").toModule(), "multiplicity"), (std::vector<int64_t>{3, 1, 2}));
    }
}

TEST(RotorMixture, InvalidConfigurationsThrow) {
    auto message = [](const ModelConfig& c) {
        try {
            buildVAE(c, 1);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message(rotorConfig("condind", {true}, {}, 2)).find("mixtureComponents = 2"), std::string::npos);
    EXPECT_NE(message(rotorConfig("autoregressive", {true}, {}, 0)).find("mixtureComponents must be >= 1, got 0"),
              std::string::npos);
    EXPECT_NE(message(rotorConfig("mse", {true, false}, {1, 2}, 1)).find("multiplicity[1] = 2"), std::string::npos);
    EXPECT_NE(message(rotorConfig("mse", {true, false}, {0, 1}, 1)).find("multiplicity[0] = 0"), std::string::npos);
    EXPECT_NE(message(rotorConfig("mse", {true, false}, {3}, 1)).find("multiplicity has 1 entries"), std::string::npos);
    EXPECT_EQ(message(rotorConfig("autoregressive", {true, false}, {3, 1}, 4)), "no error");
}
