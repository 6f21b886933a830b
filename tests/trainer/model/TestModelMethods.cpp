// Every method of buildVAE's module, for every decoder kind, in float32 and float64; the encoder
// density against the analytic Gaussian; determinism with a seed; configuration errors.
#include "ModelTestUtils.h"

#include <gtest/gtest.h>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <torch/torch.h>

using namespace VAEPlugin;
using namespace VAEPlugin::test;

namespace {

struct Case {
    std::string decoder;
    int D, L;
    std::vector<bool> periodic;
};

std::vector<Case> allCases() {
    std::vector<Case> cases;
    for (const char* kind : {"mse", "condind", "autoregressive", "flow"}) {
        cases.push_back({kind, 2, 1, {}});
        cases.push_back({kind, 3, 2, {false, true, false}});
        cases.push_back({kind, 2, 4, {true, true}});
    }
    return cases;
}

std::string name(const Case& c) {
    std::string s = c.decoder + " D=" + std::to_string(c.D) + " L=" + std::to_string(c.L) + " periodic=";
    for (bool p : c.periodic)
        s += p ? "1" : "0";
    return s;
}

void checkAllMethods(torch::jit::Module& m, const Case& c, torch::ScalarType dtype) {
    const int64_t B = 5;
    auto opts = torch::TensorOptions().dtype(dtype);
    torch::Tensor x = torch::randn({B, c.D}, opts) * 2.0;
    auto enc = callN(m, "encode", {x});
    ASSERT_EQ(enc.size(), 2u);
    EXPECT_EQ(enc[0].sizes(), torch::IntArrayRef({B, c.L}));
    EXPECT_EQ(enc[0].scalar_type(), dtype);
    torch::Tensor z = enc[0];
    EXPECT_EQ(call1(m, "encoder_log_prob", {z, enc[0], enc[1]}).sizes(), torch::IntArrayRef({B}));

    torch::Tensor eps = torch::randn({B, c.L}, opts);
    auto pf = callN(m, "prior_forward", {eps});
    EXPECT_EQ(pf[0].sizes(), torch::IntArrayRef({B, c.L}));
    EXPECT_EQ(pf[1].sizes(), torch::IntArrayRef({B}));
    auto pi = callN(m, "prior_inverse", {pf[0]});
    double tol = dtype == torch::kFloat64 ? 1e-9 : 1e-4;
    EXPECT_TRUE(torch::allclose(pi[0], eps, tol, tol));
    EXPECT_TRUE(torch::allclose(pi[1], -pf[1], tol, tol));
    EXPECT_TRUE(torch::allclose(call1(m, "prior_sample", {eps}), pf[0]));
    torch::Tensor lp = call1(m, "prior_log_prob", {pf[0]});
    EXPECT_EQ(lp.sizes(), torch::IntArrayRef({B}));
    EXPECT_TRUE(torch::isfinite(lp).all().item<bool>());

    torch::Tensor dl = call1(m, "decoder_log_prob", {x, z});
    EXPECT_EQ(dl.sizes(), torch::IntArrayRef({B}));
    EXPECT_EQ(dl.scalar_type(), dtype);
    EXPECT_TRUE(torch::isfinite(dl).all().item<bool>());
    torch::Tensor noise = torch::rand({B, c.D}, opts) * 0.98 + 0.01;
    torch::Tensor xs = call1(m, "decoder_sample", {z, noise});
    EXPECT_EQ(xs.sizes(), torch::IntArrayRef({B, c.D}));
    EXPECT_EQ(xs.scalar_type(), dtype);
    EXPECT_TRUE(torch::isfinite(xs).all().item<bool>());
    for (int i = 0; i < c.D; ++i)
        if (!c.periodic.empty() && c.periodic[i]) {
            EXPECT_TRUE((xs.select(1, i).abs() <= M_PI + 1e-6).all().item<bool>());
        }
    EXPECT_TRUE(torch::isfinite(call1(m, "decoder_log_prob", {xs, z})).all().item<bool>());

    for (double beta : {0.0, 1.0}) {
        auto loss = callN(m, "loss", {x, beta});
        ASSERT_EQ(loss.size(), 3u);
        EXPECT_EQ(loss[0].dim(), 0);
        EXPECT_NEAR(loss[0].item<double>(), loss[1].item<double>() + beta * loss[2].item<double>(),
                    1e-4 * (1 + std::abs(loss[0].item<double>())));
        for (at::Tensor p : m.parameters())
            if (p.grad().defined())
                p.mutable_grad().zero_();
        loss[0].backward();
        bool anyGrad = false;
        for (const auto& p : m.parameters())
            if (p.grad().defined()) {
                EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
                anyGrad = anyGrad || p.grad().abs().sum().item<double>() > 0;
            }
        EXPECT_TRUE(anyGrad);
    }
    // prior_fit_loss: gradient only in the prior
    for (at::Tensor p : m.parameters())
        if (p.grad().defined())
            p.mutable_grad().zero_();
    torch::Tensor pfl = call1(m, "prior_fit_loss", {x});
    EXPECT_EQ(pfl.dim(), 0);
    pfl.backward();
    for (const auto& p : m.attr("encoder").toModule().parameters())
        EXPECT_TRUE(!p.grad().defined() || p.grad().abs().sum().item<double>() == 0.0);
    double priorGrad = 0;
    for (const auto& p : m.attr("prior").toModule().parameters())
        if (p.grad().defined())
            priorGrad += p.grad().abs().sum().item<double>();
    EXPECT_GT(priorGrad, 0.0);
}

} // namespace

TEST(ModelMethods, AllMethodsAllDecodersFloatAndDouble) {
    at::set_num_threads(1);
    torch::manual_seed(3);
    for (const Case& c : allCases()) {
        SCOPED_TRACE(name(c));
        ModelConfig cfg = makeConfig(c.decoder, c.D, c.L, 16, c.periodic);
        torch::jit::Module m = buildVAE(cfg, 11);
        EXPECT_EQ(m.attr("latent").toInt(), c.L);
        EXPECT_EQ(m.attr("num_features").toInt(), c.D);
        EXPECT_EQ(m.attr("decoder_kind").toStringRef(), c.decoder);
        checkAllMethods(m, c, torch::kFloat32);
        m.to(torch::kFloat64);
        checkAllMethods(m, c, torch::kFloat64);
    }
}

TEST(ModelMethods, EncoderLogProbIsAnalyticGaussian) {
    at::set_num_threads(1);
    torch::jit::Module m = buildDouble(makeConfig("mse", 2, 3, 8), 1);
    torch::Tensor z = torch::randn({4, 3}, torch::kFloat64);
    torch::Tensor mu = torch::randn({4, 3}, torch::kFloat64);
    torch::Tensor lv = torch::randn({4, 3}, torch::kFloat64);
    torch::Tensor got = call1(m, "encoder_log_prob", {z, mu, lv});
    for (int b = 0; b < 4; ++b) {
        double expect = 0;
        for (int k = 0; k < 3; ++k) {
            double s2 = std::exp(lv[b][k].item<double>());
            double d = z[b][k].item<double>() - mu[b][k].item<double>();
            expect += -0.5 * d * d / s2 - 0.5 * std::log(2 * M_PI * s2);
        }
        EXPECT_NEAR(got[b].item<double>(), expect, 1e-12);
    }
}

TEST(ModelMethods, EncoderUsesCosSinOfPeriodicFeatures) {
    at::set_num_threads(1);
    torch::jit::Module m = buildDouble(makeConfig("condind", 3, 2, 8, {false, true, true}), 2);
    torch::Tensor x = torch::randn({6, 3}, torch::kFloat64);
    torch::Tensor shifted = x.clone();
    shifted.select(1, 1).add_(2 * M_PI);
    shifted.select(1, 2).sub_(4 * M_PI);
    auto a = callN(m, "encode", {x});
    auto b = callN(m, "encode", {shifted});
    EXPECT_TRUE(torch::allclose(a[0], b[0], 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(a[1], b[1], 1e-10, 1e-10));
    // decoder densities are periodic in periodic features too
    torch::Tensor z = torch::randn({6, 2}, torch::kFloat64);
    for (const char* kind : {"mse", "condind", "autoregressive", "flow"}) {
        torch::jit::Module d = buildDouble(makeConfig(kind, 3, 2, 8, {false, true, true}), 2);
        EXPECT_TRUE(torch::allclose(call1(d, "decoder_log_prob", {x, z}), call1(d, "decoder_log_prob", {shifted, z}),
                                    1e-9, 1e-9))
            << kind;
    }
}

TEST(ModelMethods, DeterministicWithSeed) {
    at::set_num_threads(1);
    for (const char* kind : {"mse", "autoregressive", "flow"}) {
        ModelConfig c = makeConfig(kind, 3, 2, 10, {false, true, false});
        torch::jit::Module a = buildVAE(c, 42), b = buildVAE(c, 42), other = buildVAE(c, 43);
        auto pa = a.named_parameters(), pb = b.named_parameters(), po = other.named_parameters();
        std::vector<torch::Tensor> va, vb, vo;
        std::vector<std::string> na, nb;
        for (const auto& p : pa) { va.push_back(p.value); na.push_back(p.name); }
        for (const auto& p : pb) { vb.push_back(p.value); nb.push_back(p.name); }
        for (const auto& p : po) vo.push_back(p.value);
        ASSERT_EQ(na, nb);
        bool anyDifferent = false;
        for (size_t i = 0; i < va.size(); ++i) {
            EXPECT_TRUE(torch::equal(va[i], vb[i])) << na[i];
            anyDifferent = anyDifferent || !torch::equal(va[i], vo[i]);
        }
        EXPECT_TRUE(anyDifferent);
        torch::Tensor x = torch::randn({7, 3});
        torch::manual_seed(5);
        auto la = callN(a, "loss", {x, 1.0});
        torch::manual_seed(5);
        auto lb = callN(b, "loss", {x, 1.0});
        EXPECT_EQ(la[0].item<float>(), lb[0].item<float>());
    }
}

TEST(ModelMethods, SaveAndLoadGiveTheSameNumbers) {
    for (const char* kind : {"mse", "condind", "autoregressive", "flow"}) {
        torch::jit::Module m = buildDouble(makeConfig(kind, 3, 2, 8, {true, false, false}), 12);
        std::stringstream buffer;
        m.save(buffer);
        torch::jit::Module loaded = torch::jit::load(buffer);
        torch::Tensor x = torch::randn({5, 3}, torch::kFloat64);
        torch::Tensor z = torch::randn({5, 2}, torch::kFloat64);
        EXPECT_TRUE(torch::equal(call1(m, "decoder_log_prob", {x, z}), call1(loaded, "decoder_log_prob", {x, z}))) << kind;
        EXPECT_TRUE(torch::equal(call1(m, "prior_log_prob", {z}), call1(loaded, "prior_log_prob", {z}))) << kind;
        EXPECT_TRUE(torch::equal(callN(m, "encode", {x})[1], callN(loaded, "encode", {x})[1])) << kind;
        EXPECT_EQ(loaded.attr("decoder_kind").toStringRef(), kind);
    }
}

TEST(ModelMethods, NonFiniteInputsGiveNonFiniteOutputsWithoutThrowing) {
    // the MC move rejects non-finite proposals; the methods must not throw or index out of range
    for (const char* kind : {"mse", "condind", "autoregressive", "flow"}) {
        torch::jit::Module m = buildDouble(makeConfig(kind, 2, 2, 8, {false, true}), 3);
        const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
        torch::Tensor x = torch::tensor({{nan, 0.1}, {0.2, inf}, {0.3, 0.4}}, torch::kFloat64);
        torch::Tensor z = torch::tensor({{0.1, nan}, {0.2, 0.3}, {0.3, 0.4}}, torch::kFloat64);
        torch::Tensor lp;
        ASSERT_NO_THROW(lp = call1(m, "decoder_log_prob", {x, z})) << kind;
        EXPECT_FALSE(std::isfinite(lp[0].item<double>())) << kind;
        EXPECT_TRUE(std::isfinite(lp[2].item<double>())) << kind;
        ASSERT_NO_THROW(lp = call1(m, "prior_log_prob", {z})) << kind;
        EXPECT_FALSE(std::isfinite(lp[0].item<double>()));
        EXPECT_TRUE(std::isfinite(lp[1].item<double>()));
        ASSERT_NO_THROW(callN(m, "encode", {x})) << kind;
        ASSERT_NO_THROW(callN(m, "prior_forward", {z})) << kind;
        torch::Tensor xs;
        ASSERT_NO_THROW(xs = call1(m, "decoder_sample", {z, torch::rand({3, 2}, torch::kFloat64)})) << kind;
        EXPECT_FALSE(torch::isfinite(xs[0]).all().item<bool>()) << kind;
        EXPECT_TRUE(torch::isfinite(xs[1]).all().item<bool>()) << kind;
    }
}

TEST(ModelMethods, GlorotUniformLimits) {
    ModelConfig c = makeConfig("condind", 4, 2, 30);
    torch::jit::Module m = buildVAE(c, 7);
    for (const auto& p : m.named_parameters()) {
        if (p.name.find("_weight") != std::string::npos) {
            ASSERT_EQ(p.value.dim(), 2) << p.name;
            double a = std::sqrt(6.0 / (p.value.size(0) + p.value.size(1)));
            EXPECT_LE(p.value.abs().max().item<double>(), a + 1e-7) << p.name;
            EXPECT_GT(p.value.abs().max().item<double>(), 0.5 * a) << p.name;
        } else if (p.name.find("_bias") != std::string::npos) {
            EXPECT_EQ(p.value.abs().max().item<double>(), 0.0) << p.name;
        }
    }
}

TEST(ModelMethods, InvalidConfigurationsThrow) {
    // A decoder is a DecoderKind: an unknown name is refused where it is parsed (CLI, config file).
    EXPECT_FALSE(parseDecoderKind("gaussian").has_value());
    EXPECT_THROW(buildVAE(makeConfig("mse", 0, 1, 8), 1), std::invalid_argument);
    EXPECT_THROW(buildVAE(makeConfig("mse", 2, 0, 8), 1), std::invalid_argument);
    EXPECT_THROW(buildVAE(makeConfig("mse", 2, 1, 8, {true}), 1), std::invalid_argument);
    try {
        buildVAE(makeConfig("mse", 2, 0, 8), 1);
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("latent must be >= 1, got 0"), std::string::npos) << e.what();
    }
}
