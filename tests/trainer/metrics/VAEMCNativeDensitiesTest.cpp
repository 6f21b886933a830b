// The native state-side densities of a VAE move equal the bundle's TorchScript methods on trained
// models for every decoder kind, and are refused (null) for foreign modules. (Random-weight models of
// every layout, samples and partial terms: tests/trainer/model/TestNativeModel.cpp.)
#include "TestHelpers.h"
#include "VAEMCNativeDensities.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace VAEPlugin;
using namespace VAEPlugin::testing_helpers;

namespace {

double column(torch::jit::Module& m, const char* method, std::vector<c10::IValue> args, int64_t row) {
    return m.get_method(method)(std::move(args)).toTensor().to(torch::kFloat64).reshape({-1})[row].item<double>();
}

} // namespace

TEST(VAEMCNativeDensities, EqualTheBundleMethods) {
    for (const char* systemName : {"mueller", "beltway-rtheta"})
        for (const char* decoder : {"mse", "condind", "autoregressive", "flow"})
            for (int latent : {1, 2}) {
                SCOPED_TRACE(std::string(systemName) + " " + decoder + " L=" + std::to_string(latent));
                auto system = makeSystem(systemName);
                torch::Tensor data = system->sample(2000, 5);
                torch::jit::Module bundle = poorBundle(system->featureKind(), data, 30, 5, latent, decoder);
                auto native = VAEMCNativeDensities::tryCreate(bundle);
                ASSERT_TRUE(native != nullptr);
                ASSERT_EQ(native->latentSize(), latent);
                torch::manual_seed(3);
                const int64_t n = 40;
                // data rows, and latents from the bulk to far outside the spline's [-10, 10]
                torch::Tensor x = data.slice(0, 0, n).to(torch::kFloat64).contiguous();
                torch::Tensor z = (torch::randn({n, latent}, torch::kFloat64) *
                                   torch::linspace(0.1, 15.0, n, torch::kFloat64).unsqueeze(1)).contiguous();
                auto enc = bundle.get_method("encode")({x}).toTuple();
                torch::Tensor mu = enc->elements()[0].toTensor().to(torch::kFloat64).contiguous();
                torch::Tensor lv = enc->elements()[1].toTensor().to(torch::kFloat64).contiguous();
                for (int64_t r = 0; r < n; r++) {
                    const double* zr = z.data_ptr<double>() + r * latent;
                    native->setFeatures(x.data_ptr<double>() + r * x.size(1));
                    const double q = column(bundle, "encoder_log_prob", {z, mu, lv}, r);
                    const double p = column(bundle, "prior_log_prob", {z}, r);
                    const double d = column(bundle, "decoder_log_prob", {x, z}, r);
                    EXPECT_NEAR(native->encoderLogProb(zr, mu.data_ptr<double>() + r * latent, lv.data_ptr<double>() + r * latent),
                                q, 1e-10 * (1 + std::abs(q))) << "row " << r;
                    EXPECT_NEAR(native->priorLogProb(zr), p, 1e-10 * (1 + std::abs(p))) << "row " << r;
                    EXPECT_NEAR(native->decoderLogProb(zr), d, 1e-10 * (1 + std::abs(d))) << "row " << r;
                }
            }
}

TEST(VAEMCNativeDensities, RefusedForForeignModules) {
    torch::jit::Module foreign("Foreign");
    foreign.define("def forward(self, x: Tensor) -> Tensor:\n    return x\n");
    EXPECT_TRUE(VAEMCNativeDensities::tryCreate(foreign) == nullptr);
}
