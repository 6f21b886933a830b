// The native decoder, prior sampling and encoder (native/) against the TorchScript bundle methods
// of models built by trainer/model with random weights: ln P(x|z) of every decoder kind, periodic and
// non-periodic features, mixtures (K = 1, 3) and rotor multiplicity; identical samples for identical
// noise slots; the autoregressive decoder's conditional terms and partial draws; the native sampler
// against its own density (chi-square); legacy layouts refused.
#include "BundleWriter.h"
#include "FeatureSpec.h"
#include "ModelTestUtils.h"
#include "NativeDecoder.h"
#include "NativeDense.h"
#include "NativeDistributions.h"
#include "TableUniformSource.h"
#include "VAEMCNativeDensities.h"

#include "../../cpp/common/ChiSquare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

using namespace VAEPlugin;
using namespace VAEPlugin::test;

namespace {

struct Case {
    std::string decoder;
    std::vector<bool> periodic;
    std::vector<int> multiplicity;  // empty: all 1
    int K = 1;
    int latent = 2;
    std::string name() const {
        std::string s = decoder + " D=" + std::to_string(periodic.size()) + " K=" + std::to_string(K) + " m=";
        for (int m : multiplicity) s += std::to_string(m);
        return s;
    }
};

double wrap(double a) { return std::remainder(a, 2.0 * M_PI); }

/** Features of kind positions (D = 3 n) or xy (D = 2) with the case's periodic flags. */
FeatureSpec featuresOf(const std::vector<bool>& periodic) {
    std::vector<int> per;
    for (size_t i = 0; i < periodic.size(); i++)
        if (periodic[i]) per.push_back(i);
    return FeatureSpec::make(periodic.size() == 2 ? FeatureKind::XY : FeatureKind::Positions, periodic.size(), per, {});
}

/** A bundle of a freshly built model whose parameters are perturbed (biases and logits far from 0). */
torch::jit::Module randomBundle(const Case& c, uint64_t seed, double perturbation = 0.4) {
    const int D = c.periodic.size();
    ModelConfig config = makeConfig(c.decoder, D, c.latent, 16, c.periodic);
    config.multiplicity = c.multiplicity;
    config.mixtureComponents = c.K;
    config.flowHidden = 10;
    config.splineBins = 8;
    torch::jit::Module model = buildVAE(config, seed);
    {
        torch::NoGradGuard noGrad;
        torch::manual_seed(seed);
        for (torch::Tensor p : model.parameters()) p.add_(perturbation * torch::randn_like(p));
    }
    std::vector<double> mean(D), scale(D);
    for (int i = 0; i < D; i++) {
        mean[i] = c.periodic[i] ? 0.0 : 0.3 * i - 0.5;
        scale[i] = c.periodic[i] ? 1.0 : 0.5 + 0.25 * i;
    }
    return makeBundle(model, featuresOf(c.periodic), mean, scale);
}

std::vector<Case> allCases() {
    const std::vector<bool> mixed = {false, true, false, true, true, true}, none = {false, false, false};
    const std::vector<int> rotors = {1, 3, 1, 1, 2, 3};
    std::vector<Case> cases;
    for (const char* d : {"mse", "condind", "autoregressive", "flow"}) {
        cases.push_back({d, none, {}, 1, 2});
        cases.push_back({d, mixed, {}, 1, 2});
        cases.push_back({d, mixed, rotors, 1, 1});
    }
    cases.push_back({"autoregressive", mixed, {}, 3, 2});
    cases.push_back({"autoregressive", mixed, rotors, 3, 2});
    return cases;
}

/** Raw features: non-periodic around the standardisation, periodic angles over several turns. */
torch::Tensor randomFeatures(const Case& c, int n, torch::jit::Module& bundle) {
    const int D = c.periodic.size();
    torch::Tensor mean = bundle.attr("feature_mean").toTensor(), scale = bundle.attr("feature_scale").toTensor();
    torch::Tensor x = mean + scale * 1.5 * torch::randn({n, D}, torch::kFloat64);
    for (int i = 0; i < D; i++)
        if (c.periodic[i]) x.select(1, i).copy_((torch::rand({n}, torch::kFloat64) * 2.0 - 1.0) * 3.0 * M_PI);
    return x.contiguous();
}

/** Uniform noise [n, D, S] in (0, 1), slots enough for 30 Best-Fisher tries. */
torch::Tensor randomNoise(int n, int D) {
    return (torch::rand({n, D, 3 + 2 * 30}, torch::kFloat64) * (1.0 - 2e-12) + 1e-12).contiguous();
}

} // namespace

TEST(NativeModel, DensitiesSamplesAndEncoderEqualTheBundle) {
    uint64_t seed = 11;
    for (const Case& c : allCases()) {
        SCOPED_TRACE(c.name());
        torch::jit::Module bundle = randomBundle(c, seed++);
        auto native = VAEMCNativeDensities::tryCreate(bundle);
        ASSERT_TRUE(native != nullptr);
        const NativeDecoder& decoder = native->decoder();
        const int D = c.periodic.size(), L = c.latent, n = 40;
        torch::manual_seed(seed);
        torch::Tensor x = randomFeatures(c, n, bundle);
        torch::Tensor z = (torch::randn({n, L}, torch::kFloat64) * torch::linspace(0.2, 4.0, n, torch::kFloat64).unsqueeze(1)).contiguous();
        torch::Tensor eps = (torch::randn({n, L}, torch::kFloat64) * torch::linspace(0.2, 12.0, n, torch::kFloat64).unsqueeze(1)).contiguous();
        torch::Tensor noise = randomNoise(n, D);
        torch::Tensor lp = call1(bundle, "decoder_log_prob", {x, z});
        torch::Tensor xs = call1(bundle, "decoder_sample", {z, noise}).contiguous();
        torch::Tensor zs = call1(bundle, "prior_sample", {eps}).contiguous();
        std::vector<torch::Tensor> enc = callN(bundle, "encode", {x});
        std::vector<double> sample(D), prior(L), mu(L), logvar(L);
        int compared = 0;
        for (int r = 0; r < n; r++) {
            const double* zr = z.data_ptr<double>() + r * L;
            EXPECT_NEAR(decoder.logProb(decoder.prepare(x.data_ptr<double>() + r * D), zr), lp[r].item<double>(), 1e-6) << "row " << r;
            TableUniformSource table(noise.data_ptr<double>() + r * D * noise.size(2), D, noise.size(2));
            const double sampleLogProb = decoder.sample(zr, table, sample.data());
            // the density a sampler returns is that of its sample, as the bundle's decoder_log_prob
            torch::Tensor drawn = torch::from_blob(sample.data(), {1, D}, torch::kFloat64).clone();
            EXPECT_NEAR(sampleLogProb, call1(bundle, "decoder_log_prob", {drawn, z.slice(0, r, r + 1).contiguous()})[0].item<double>(),
                        1e-6) << "row " << r;
            // a move's decoder terms in one call: the same state density, sample and sample density
            NativeDecoder::Prepared prepared = decoder.prepare(x.data_ptr<double>() + r * D);
            const double* zOther = z.data_ptr<double>() + ((r + 1) % n) * L;
            TableUniformSource again(noise.data_ptr<double>() + r * D * noise.size(2), D, noise.size(2));
            std::vector<double> moved(D);
            const auto [stateTerm, proposalTerm] = decoder.moveTerms(prepared, zOther, zr, 0, again, moved.data());
            EXPECT_NEAR(stateTerm, decoder.logProb(prepared, zOther), 1e-9 * (1 + std::abs(stateTerm))) << "row " << r;
            EXPECT_NEAR(proposalTerm, sampleLogProb, 1e-9 * (1 + std::abs(sampleLogProb))) << "row " << r;
            for (int i = 0; i < D; i++) EXPECT_NEAR(moved[i], sample[i], 1e-10 * (1 + std::abs(sample[i]))) << "row " << r << " feature " << i;
            if (!table.exhausted()) {
                compared++;
                for (int i = 0; i < D; i++) {
                    const double b = xs[r][i].item<double>();
                    if (c.periodic[i])
                        EXPECT_NEAR(wrap(sample[i] - b), 0.0, 1e-9) << "row " << r << " feature " << i;
                    else
                        EXPECT_NEAR(sample[i], b, 1e-9 * (1 + std::abs(b))) << "row " << r << " feature " << i;
                }
            }
            native->prior().sample(eps.data_ptr<double>() + r * L, prior.data());
            native->encoder().encode(x.data_ptr<double>() + r * D, mu.data(), logvar.data());
            for (int k = 0; k < L; k++) {
                EXPECT_NEAR(prior[k], zs[r][k].item<double>(), 1e-9 * (1 + std::abs(prior[k]))) << "row " << r;
                EXPECT_NEAR(mu[k], enc[0][r][k].item<double>(), 1e-9 * (1 + std::abs(mu[k]))) << "row " << r;
                EXPECT_NEAR(logvar[k], enc[1][r][k].item<double>(), 1e-9 * (1 + std::abs(logvar[k]))) << "row " << r;
            }
        }
        EXPECT_GE(compared, n - 2);  // 30 tries: a row that needs more is rare
        EXPECT_EQ(decoder.autoregressive(), c.decoder == "autoregressive");
        EXPECT_EQ(decoder.firstPeriodicFeature(), c.periodic[1] ? 1 : D);
    }
}

TEST(NativeModel, ConditionalTermsAndPartialDrawsOfTheAutoregressiveDecoder) {
    uint64_t seed = 101;
    for (const Case& c : allCases()) {
        if (c.decoder != "autoregressive") continue;
        SCOPED_TRACE(c.name());
        torch::jit::Module bundle = randomBundle(c, seed++);
        auto native = VAEMCNativeDensities::tryCreate(bundle);
        ASSERT_TRUE(native != nullptr);
        const NativeDecoder& decoder = native->decoder();
        const int D = c.periodic.size(), L = c.latent, n = 12;
        torch::manual_seed(seed);
        torch::Tensor x = randomFeatures(c, n, bundle), other = randomFeatures(c, n, bundle);
        torch::Tensor z = torch::randn({n, L}, torch::kFloat64).contiguous();
        torch::Tensor noise = randomNoise(n, D);
        std::vector<double> full(D), partial(D);
        for (int r = 0; r < n; r++) {
            const double* zr = z.data_ptr<double>() + r * L;
            const double* xr = x.data_ptr<double>() + r * D;
            NativeDecoder::Prepared px = decoder.prepare(xr);
            EXPECT_NEAR(decoder.logProbFrom(px, zr, 0), decoder.logProb(px, zr), 1e-12);
            EXPECT_EQ(decoder.logProbFrom(px, zr, D), 0.0);
            TableUniformSource fullSource(noise.data_ptr<double>() + r * D * noise.size(2), D, noise.size(2));
            decoder.sample(zr, fullSource, full.data());
            for (int first = 0; first <= D; first++) {
                // x' = x on [0, first), another suffix: ln P(x|z) - (terms from first) is the prefix's
                // density, the same for both (TorchScript's teacher-forced ln P(x|z) on either side)
                torch::Tensor y = x.slice(0, r, r + 1).clone();
                y.slice(1, first, D).copy_(other.slice(0, r, r + 1).slice(1, first, D));
                torch::Tensor both = torch::cat({x.slice(0, r, r + 1), y}, 0).contiguous();
                torch::Tensor lp = call1(bundle, "decoder_log_prob", {both, z.slice(0, r, r + 1).expand({2, L}).contiguous()});
                const double prefixX = lp[0].item<double>() - decoder.logProbFrom(px, zr, first);
                const double prefixY = lp[1].item<double>() - decoder.logProbFrom(decoder.prepare(y.data_ptr<double>()), zr, first);
                EXPECT_NEAR(prefixX, prefixY, 1e-9) << "row " << r << " first " << first;
                // the same noise redraws the suffix of the full sample given its prefix; the prefix stays
                for (int i = 0; i < D; i++) partial[i] = i < first ? full[i] : 1e6;
                TableUniformSource source(noise.data_ptr<double>() + r * D * noise.size(2), D, noise.size(2));
                const double suffixLogProb = decoder.sampleFrom(zr, first, source, partial.data());
                EXPECT_NEAR(suffixLogProb, decoder.logProbFrom(decoder.prepare(partial.data()), zr, first), 1e-9)
                    << "row " << r << " first " << first;
                // the partial move's decoder terms in one call
                std::vector<double> moved(partial.begin(), partial.begin() + first);
                moved.resize(D, 1e6);
                TableUniformSource again(noise.data_ptr<double>() + r * D * noise.size(2), D, noise.size(2));
                const double* zState = z.data_ptr<double>() + ((r + 1) % n) * L;
                const auto [stateTerm, proposalTerm] = decoder.moveTerms(px, zState, zr, first, again, moved.data());
                EXPECT_NEAR(stateTerm, decoder.logProbFrom(px, zState, first), 1e-9) << "row " << r << " first " << first;
                EXPECT_NEAR(proposalTerm, suffixLogProb, 1e-9) << "row " << r << " first " << first;
                for (int i = 0; i < D; i++) EXPECT_EQ(moved[i], partial[i]) << "row " << r << " first " << first << " feature " << i;
                for (int i = 0; i < D; i++) {
                    if (i < first)
                        EXPECT_EQ(partial[i], full[i]);
                    else if (c.periodic[i])
                        EXPECT_NEAR(wrap(partial[i] - full[i]), 0.0, 1e-10) << "row " << r << " first " << first << " feature " << i;
                    else
                        EXPECT_NEAR(partial[i], full[i], 1e-10 * (1 + std::abs(full[i]))) << "row " << r << " first " << first << " feature " << i;
                }
            }
        }
    }
    // the conditional terms exist only for the autoregressive decoder
    torch::jit::Module bundle = randomBundle({"condind", {false, true, false}, {}, 1, 1}, 3);
    auto native = VAEMCNativeDensities::tryCreate(bundle);
    ASSERT_TRUE(native != nullptr);
    const double x[3] = {0.1, 0.2, 0.3}, z[1] = {0.5};
    GeneratorUniformSource u(1);
    double out[3];
    EXPECT_THROW(native->decoder().logProbFrom(native->decoder().prepare(x), z, 1), std::logic_error);
    EXPECT_THROW(native->decoder().sampleFrom(z, 1, u, out), std::logic_error);
    EXPECT_THROW(native->decoder().moveTerms(native->decoder().prepare(x), z, z, 1, u, out), std::logic_error);
}

TEST(NativeModel, SamplesFollowTheDensity) {
    // x ~ P(x|z) natively (production uniforms) against exp(ln P(x|z)) of the same decoder, which
    // equals the bundle's: a chi-square over two features (periodic ones over [-pi, pi)^2)
    const std::vector<Case> cases = {{"autoregressive", {true, true}, {2, 3}, 3, 1},
                                     {"autoregressive", {false, true}, {1, 2}, 1, 1},
                                     {"condind", {true, true}, {3, 1}, 1, 1},
                                     {"flow", {false, true}, {1, 2}, 1, 1},
                                     {"flow", {true, true}, {2, 1}, 1, 1}};
    uint64_t seed = 7;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name());
        // the flow's perturbed splines are too spiky for the grid integration of the expected counts
        torch::jit::Module bundle = randomBundle(c, seed++, c.decoder == "flow" ? 0.1 : 0.4);
        auto native = VAEMCNativeDensities::tryCreate(bundle);
        ASSERT_TRUE(native != nullptr);
        const NativeDecoder& decoder = native->decoder();
        const double z[1] = {0.7};
        GeneratorUniformSource u(seed);
        std::vector<std::pair<double, double>> samples;
        std::vector<double> first, second;
        double x[2];
        for (int k = 0; k < 40000; k++) {
            decoder.sample(z, u, x);
            samples.push_back({x[0], x[1]});
            first.push_back(x[0]);
            second.push_back(x[1]);
        }
        // a non-periodic feature's box: the range of its samples (the density integrated over it is ~1)
        auto box = [](bool periodic, std::vector<double>& v, double& lo, double& hi) {
            const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
            lo = periodic ? -M_PI : *mn - 1e-9;
            hi = periodic ? M_PI : *mx + 1e-9;
        };
        double a0, a1, b0, b1;
        box(c.periodic[0], first, a0, a1);
        box(c.periodic[1], second, b0, b1);
        auto logDensity = [&](double a, double b) {
            const double f[2] = {a, b};
            return decoder.logProb(decoder.prepare(f), z);
        };
        int dof = 0;
        const double chi2 = VAETest::chiSquare(samples, logDensity, a0, a1, 24, b0, b1, 24, &dof, c.decoder == "flow" ? 24 : 12);
        EXPECT_LT(chi2, dof + 6.0 * std::sqrt(2.0 * dof)) << "dof " << dof;
    }
}

TEST(NativeModel, PriorSampleInvertsTheDensityDirection) {
    torch::jit::Module bundle = randomBundle({"mse", {false, false, false}, {}, 1, 3}, 5);
    auto native = VAEMCNativeDensities::tryCreate(bundle);
    ASSERT_TRUE(native != nullptr);
    torch::manual_seed(5);
    torch::Tensor eps = (torch::randn({20, 3}, torch::kFloat64) * 3.0).contiguous();
    torch::Tensor z = torch::empty({20, 3}, torch::kFloat64);
    std::vector<double> sampleLogProb(20);
    for (int r = 0; r < 20; r++) sampleLogProb[r] = native->prior().sample(eps.data_ptr<double>() + 3 * r, z.data_ptr<double>() + 3 * r);
    // the spline's quadratic solve and its explicit formula agree to ~1e-9 (TorchScript alike)
    torch::Tensor back = callN(bundle, "prior_inverse", {z})[0];
    EXPECT_LT((back - eps).abs().max().item<double>(), 1e-7);
    // the density sample() returns is ln P(z) of its z: native and the bundle's prior_log_prob
    torch::Tensor density = call1(bundle, "prior_log_prob", {z}).reshape({-1});
    for (int r = 0; r < 20; r++) {
        EXPECT_NEAR(sampleLogProb[r], native->prior().logProb(z.data_ptr<double>() + 3 * r), 1e-8) << "row " << r;
        EXPECT_NEAR(sampleLogProb[r], density[r].item<double>(), 1e-8) << "row " << r;
    }
}

TEST(NativeModel, LegacyLayoutsAndForeignModulesAreRefused) {
    torch::jit::Module legacy = torch::jit::load(std::string(VAE_TEST_DATA_DIR) + "/legacy-8b398d5-mueller-xy-autoregressive.pt");
    EXPECT_TRUE(VAEMCNativeDensities::tryCreate(legacy) == nullptr);
    torch::jit::Module foreign("Foreign");
    foreign.define("def forward(self, x: Tensor) -> Tensor:\n    return x\n");
    EXPECT_TRUE(VAEMCNativeDensities::tryCreate(foreign) == nullptr);
}

TEST(NativeModel, GeneratorUniformsLieInTheOpenInterval) {
    GeneratorUniformSource u(3);
    double sum = 0;
    const int n = 100000;
    for (int k = 0; k < n; k++) {
        const double v = u.uniform(k % 7, k % 5);
        ASSERT_GT(v, 0.0);
        ASSERT_LT(v, 1.0);
        sum += v;
    }
    EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12.0 / n));
}


TEST(NativeModel, KernelsAgainstTheirReferences) {
    // the Bessel factor of every von Mises density against torch.special.i0e (what the bundle uses),
    // across both series and their joint at 30
    for (double k : {0.0, 1e-8, 1e-3, 0.5, 1.0, 3.0, 7.5, 15.0, 29.999, 30.0, 30.001, 45.0, 100.0, 699.0, 701.0, 1e4, 1e7}) {
        const double expect = torch::special_i0e(torch::tensor(k, torch::kFloat64)).item<double>();
        EXPECT_NEAR(i0e(k), expect, 1e-14 * expect) << "k = " << k;
    }
    EXPECT_TRUE(std::isnan(i0e(std::nan(""))));
    // y += A x of every shape the networks use (rows and columns not multiples of 4, a row block of
    // a taller matrix) against Eigen's product; whichever version the CPU runs
    for (auto [rows, cols, r0, n] : std::vector<std::array<int, 4>>{{1, 1, 0, 1}, {3, 5, 0, 3}, {300, 300, 0, 300}, {134, 300, 7, 3},
                                                                    {301, 67, 0, 301}, {2, 300, 0, 2}, {20, 7, 4, 16}}) {
        const Eigen::MatrixXd a = Eigen::MatrixXd::Random(rows, cols);
        const Eigen::VectorXd x = Eigen::VectorXd::Random(cols);
        Eigen::VectorXd y = Eigen::VectorXd::Random(n);
        const Eigen::VectorXd expect = y + a.middleRows(r0, n) * x;
        Eigen::VectorXd yRows = y;
        denseMultiplyAdd(a, r0, n, cols, x.data(), y.data());
        EXPECT_LT((y - expect).cwiseAbs().maxCoeff(), 1e-12 * (1 + expect.cwiseAbs().maxCoeff())) << rows << " x " << cols;
        // the row-major form, and the pair form (second vector 2 x)
        denseRowsMultiplyAdd(DenseRowMatrix(a), r0, n, cols, x.data(), yRows.data());
        EXPECT_LT((yRows - expect).cwiseAbs().maxCoeff(), 1e-12 * (1 + expect.cwiseAbs().maxCoeff())) << rows << " x " << cols;
        Eigen::VectorXd y0 = Eigen::VectorXd::Zero(n), y1 = Eigen::VectorXd::Zero(n);
        const Eigen::VectorXd twice = 2 * x;
        denseMultiplyAdd2(n, cols, a.data() + r0, rows, x.data(), twice.data(), y0.data(), y1.data());
        const Eigen::VectorXd product = a.middleRows(r0, n) * x;
        EXPECT_LT((y0 - product).cwiseAbs().maxCoeff(), 1e-12 * (1 + product.cwiseAbs().maxCoeff())) << rows << " x " << cols;
        EXPECT_LT((y1 - 2 * product).cwiseAbs().maxCoeff(), 2e-12 * (1 + product.cwiseAbs().maxCoeff())) << rows << " x " << cols;
    }
    // the vectorised tanh of hidden units against std::tanh, saturation and NaN included
    Eigen::ArrayXd t = Eigen::ArrayXd::LinSpaced(20001, -25.0, 25.0);
    t.tail(4) << 1e-300, -1e-17, 400.0, -800.0;
    const Eigen::ArrayXd h = denseTanh(t);
    for (int i = 0; i < t.size(); i++) EXPECT_NEAR(h[i], std::tanh(t[i]), 4e-16) << "x = " << t[i];
    Eigen::ArrayXd bad(1);
    bad << std::nan("");
    EXPECT_TRUE(std::isnan(denseTanh(bad)[0]));
}
