#include "VAEMCNativeDensities.h"
#include "BundleSchema.h"
#include "NativeDistributions.h"
#include "TableUniformSource.h"
#include "VAEDensitySpec.h"
#include "VAEEncoderSpec.h"

#include "DensitySpecEigen.h"
#include <cmath>
#include <random>
#include <vector>

namespace VAEPlugin {

namespace {

namespace Mt = BundleSchema::Method;
namespace M = BundleSchema::Model;

/** Uniform slots per feature of the self-check's noise: 20 Best-Fisher tries (a row that needs more is skipped). */
constexpr int kCheckSlots = kSlotFirstTry + 2 * 20;

} // namespace

class VAEMCNativeDensities::Impl {
public:
    Impl(const VAEDensitySpec& spec, const VAEEncoderSpec& encoderSpec) : encoder(encoderSpec), prior(spec), decoder(spec) {}
    NativeEncoder encoder;
    NativePriorFlow prior;
    NativeDecoder decoder;
    NativeDecoder::Prepared features;  // of the last setFeatures
};

VAEMCNativeDensities::VAEMCNativeDensities(std::unique_ptr<Impl> i) : impl(std::move(i)) {}
VAEMCNativeDensities::~VAEMCNativeDensities() = default;
int VAEMCNativeDensities::latentSize() const { return impl->prior.latentSize(); }
int VAEMCNativeDensities::numFeatures() const { return impl->decoder.numFeatures(); }
void VAEMCNativeDensities::setFeatures(const double* x) { impl->features = impl->decoder.prepare(x); }
double VAEMCNativeDensities::priorLogProb(const double* z) const { return impl->prior.logProb(z); }
double VAEMCNativeDensities::decoderLogProb(const double* z) const { return impl->decoder.logProb(impl->features, z); }
const NativeEncoder& VAEMCNativeDensities::encoder() const { return impl->encoder; }
const NativePriorFlow& VAEMCNativeDensities::prior() const { return impl->prior; }
const NativeDecoder& VAEMCNativeDensities::decoder() const { return impl->decoder; }

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
        VAEEncoderSpec encoderSpec;
        std::string whyNot;
        if (!VAEDensitySpec::fromModule(bundle, spec, whyNot) || !VAEEncoderSpec::fromModule(bundle, encoderSpec, whyNot) ||
            encoderSpec.numFeatures != spec.numFeatures || encoderSpec.latent != spec.latent)
            return nullptr;
        auto impl = std::make_unique<Impl>(spec, encoderSpec);
        std::unique_ptr<VAEMCNativeDensities> native(new VAEMCNativeDensities(std::move(impl)));
        // the same numbers as the bundle's own methods on random features, latents and noise, or nothing
        torch::NoGradGuard noGrad;
        const int L = native->latentSize(), D = native->numFeatures(), n = 6;
        const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
        std::mt19937_64 rng(12345);
        std::normal_distribution<double> normal;
        GeneratorUniformSource uniforms(rng());
        // decoders of the slot layout take [B, D, S] noise; older ones (no multiplicity) only [B, D],
        // whose periodic columns TorchScript completes with torch.rand: only the others compare
        torch::jit::Module decoderModule = bundle.attr(BundleSchema::Attribute::kModel).toModule().attr(M::kDecoder).toModule();
        const bool slots = decoderModule.hasattr(M::kMultiplicity);
        const int S = slots ? kCheckSlots : 1;
        torch::Tensor x = torch::empty({n, D}, opts), z = torch::empty({n, L}, opts), eps = torch::empty({n, L}, opts);
        torch::Tensor noise = torch::empty({n, D, S}, opts);
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < D; i++) {
                x[r][i] = spec.featureMean[i] + spec.featureScale[i] * normal(rng);
                for (int s = 0; s < S; s++) noise[r][i][s] = uniforms.uniform(i, s);
            }
            for (int k = 0; k < L; k++) {
                z[r][k] = (1.0 + r) * normal(rng);
                eps[r][k] = (1.0 + r) * normal(rng);
            }
        }
        auto enc = bundle.get_method(Mt::kEncode)({x}).toTuple();
        torch::Tensor mu = enc->elements()[0].toTensor().to(torch::kFloat64).contiguous();
        torch::Tensor lv = enc->elements()[1].toTensor().to(torch::kFloat64).contiguous();
        auto tensor = [](const c10::IValue& v) { return v.toTensor().to(torch::kFloat64).contiguous(); };
        torch::Tensor q = tensor(bundle.get_method(Mt::kEncoderLogProb)({z, mu, lv})).reshape({-1});
        torch::Tensor prior = tensor(bundle.get_method(Mt::kPriorLogProb)({z})).reshape({-1});
        torch::Tensor dec = tensor(bundle.get_method(Mt::kDecoderLogProb)({x, z})).reshape({-1});
        torch::Tensor priorSample = tensor(bundle.get_method(Mt::kPriorSample)({eps}));
        torch::Tensor priorSampleDensity = tensor(bundle.get_method(Mt::kPriorLogProb)({priorSample})).reshape({-1});
        torch::Tensor decoderSample =
            tensor(bundle.get_method(Mt::kDecoderSample)({z, slots ? noise : noise.select(2, 0).contiguous()}));
        // the density a sampler returns with its sample: that of decoder_log_prob at the sample
        torch::Tensor sampleDensity = tensor(bundle.get_method(Mt::kDecoderLogProb)({decoderSample, z})).reshape({-1});
        auto close = [](double a, double b) { return std::isfinite(b) && std::abs(a - b) <= 1e-8 * (1.0 + std::abs(b)); };
        std::vector<char> periodic(D, 0);
        for (int64_t i : spec.periodicIndex) periodic[i] = 1;
        std::vector<double> mur(L), lvr(L), zs(L), xs(D);
        for (int r = 0; r < n; r++) {
            const double* zr = z.data_ptr<double>() + r * L;
            native->encoder().encode(x.data_ptr<double>() + r * D, mur.data(), lvr.data());
            for (int k = 0; k < L; k++)
                if (!close(mur[k], mu[r][k].item<double>()) || !close(lvr[k], lv[r][k].item<double>())) return nullptr;
            native->setFeatures(x.data_ptr<double>() + r * D);
            if (!close(native->encoderLogProb(zr, mu.data_ptr<double>() + r * L, lv.data_ptr<double>() + r * L),
                       q[r].item<double>()) ||
                !close(native->priorLogProb(zr), prior[r].item<double>()) ||
                !close(native->decoderLogProb(zr), dec[r].item<double>()))
                return nullptr;
            const double priorSampleLogProb = native->prior().sample(eps.data_ptr<double>() + r * L, zs.data());
            for (int k = 0; k < L; k++)
                if (!close(zs[k], priorSample[r][k].item<double>())) return nullptr;
            if (!close(priorSampleLogProb, priorSampleDensity[r].item<double>())) return nullptr;
            TableUniformSource table(noise.data_ptr<double>() + r * D * S, D, S);
            const double sampleLogProb = native->decoder().sample(zr, table, xs.data());
            if (slots && table.exhausted()) continue;  // TorchScript drew the missing tries itself
            if (slots && !close(sampleLogProb, sampleDensity[r].item<double>())) return nullptr;
            for (int i = 0; i < D; i++) {
                const double b = decoderSample[r][i].item<double>();
                if (!periodic[i] ? !close(xs[i], b) : slots && !(std::abs(wrapAngle(xs[i] - b)) <= 1e-8)) return nullptr;
            }
        }
        return native;
    }
    catch (const std::exception&) {  // c10::Error included: an attribute or method it does not have
        return nullptr;
    }
}

} // namespace VAEPlugin
