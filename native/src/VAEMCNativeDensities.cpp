#include "VAEMCNativeDensities.h"
#include "BundleSchema.h"
#include "NativeDecoderDensity.h"
#include "NativePriorFlow.h"
#include "VAEDensitySpec.h"

#include "DensitySpecEigen.h"
#include <cmath>
#include <random>
#include <vector>

namespace VAEPlugin {

namespace {

namespace Mt = BundleSchema::Method;

} // namespace

class VAEMCNativeDensities::Impl {
public:
    explicit Impl(const VAEDensitySpec& spec) : prior(spec), decoder(spec) {
    }
    NativePriorFlow prior;
    NativeDecoderDensity decoder;
};

VAEMCNativeDensities::VAEMCNativeDensities(std::unique_ptr<Impl> i) : impl(std::move(i)) {}
VAEMCNativeDensities::~VAEMCNativeDensities() = default;
int VAEMCNativeDensities::latentSize() const { return impl->prior.latentSize(); }
int VAEMCNativeDensities::numFeatures() const { return impl->decoder.numFeatures(); }
void VAEMCNativeDensities::setFeatures(const double* x) { impl->decoder.setFeatures(x); }
double VAEMCNativeDensities::priorLogProb(const double* z) const { return impl->prior.logProb(z); }
double VAEMCNativeDensities::decoderLogProb(const double* z) const { return impl->decoder.logProb(z); }

double VAEMCNativeDensities::encoderLogProb(const double* z, const double* mu, const double* logvar) const {
    double s = 0;
    const int L = latentSize();
    for (int k = 0; k < L; k++) {
        const double d = z[k] - mu[k];
        s += d * d * std::exp(-logvar[k]) + logvar[k];
    }
    return -0.5 * s - 0.5 * L * kLn2Pi;
}

std::unique_ptr<VAEMCNativeDensities> VAEMCNativeDensities::tryCreate(torch::jit::Module& bundle) {
    try {
        VAEDensitySpec spec;
        std::string whyNot;
        if (!VAEDensitySpec::fromModule(bundle, spec, whyNot))
            return nullptr;
        auto impl = std::make_unique<Impl>(spec);
        std::unique_ptr<VAEMCNativeDensities> native(new VAEMCNativeDensities(std::move(impl)));
        // the same numbers as the bundle's own methods on random features and latents, or nothing
        torch::NoGradGuard noGrad;
        const int L = native->latentSize(), D = native->numFeatures(), n = 6;
        const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
        std::mt19937_64 rng(12345);
        std::normal_distribution<double> normal;
        torch::Tensor x = torch::empty({n, D}, opts), z = torch::empty({n, L}, opts);
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < D; i++)
                x[r][i] = spec.featureMean[i] + spec.featureScale[i] * normal(rng);
            for (int k = 0; k < L; k++) z[r][k] = (1.0 + r) * normal(rng);
        }
        auto enc = bundle.get_method(Mt::kEncode)({x}).toTuple();
        torch::Tensor mu = enc->elements()[0].toTensor().to(torch::kFloat64).contiguous();
        torch::Tensor lv = enc->elements()[1].toTensor().to(torch::kFloat64).contiguous();
        auto column = [](const c10::IValue& v) { return v.toTensor().to(torch::kFloat64).contiguous().reshape({-1}); };
        torch::Tensor q = column(bundle.get_method(Mt::kEncoderLogProb)({z, mu, lv}));
        torch::Tensor prior = column(bundle.get_method(Mt::kPriorLogProb)({z}));
        torch::Tensor dec = column(bundle.get_method(Mt::kDecoderLogProb)({x, z}));
        auto close = [](double a, double b) { return std::isfinite(b) && std::abs(a - b) <= 1e-8 * (1.0 + std::abs(b)); };
        for (int r = 0; r < n; r++) {
            const double* zr = z.data_ptr<double>() + r * L;
            native->setFeatures(x.data_ptr<double>() + r * D);
            if (!close(native->encoderLogProb(zr, mu.data_ptr<double>() + r * L, lv.data_ptr<double>() + r * L),
                       q[r].item<double>()) ||
                !close(native->priorLogProb(zr), prior[r].item<double>()) ||
                !close(native->decoderLogProb(zr), dec[r].item<double>()))
                return nullptr;
        }
        return native;
    }
    catch (const std::exception&) {  // c10::Error included: an attribute or method it does not have
        return nullptr;
    }
}

} // namespace VAEPlugin
