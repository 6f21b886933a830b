#include "VAEMCNativeDensities.h"
#include "BundleSchema.h"
#include "NativeDistributions.h"
#include "TableUniformSource.h"
#include "VAEDensitySpec.h"
#include "VAEEncoderSpec.h"

#include "DensitySpecEigen.h"
#include <cmath>
#include <vector>

namespace VAEPlugin {

namespace {

namespace Mt = BundleSchema::Method;
namespace M = BundleSchema::Model;

static_assert(BundleSchema::kCheckNoiseSlots == kSlotFirstTry + 2 * 20, "the check record's noise: the fixed slots and 20 Best-Fisher tries");

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

#ifdef OPENMMVAE_WITH_TORCH
std::unique_ptr<VAEMCNativeDensities> VAEMCNativeDensities::tryCreate(torch::jit::Module& bundle) {
    try {
        return tryCreate(NativeModuleTree::fromModule(bundle), BundleCheckRecord::fromModule(bundle, 0, "the bundle"));
    }
    catch (const std::exception&) {  // an attribute it cannot hold
        return nullptr;
    }
}
#endif

std::unique_ptr<VAEMCNativeDensities> VAEMCNativeDensities::tryCreate(const NativeModuleTree& bundle, const BundleCheckRecord& record) {
    try {
        VAEDensitySpec spec;
        VAEEncoderSpec encoderSpec;
        std::string whyNot;
        if (!record.hasDensities || !VAEDensitySpec::fromTree(bundle, spec, whyNot) || !VAEEncoderSpec::fromTree(bundle, encoderSpec, whyNot) ||
            encoderSpec.numFeatures != spec.numFeatures || encoderSpec.latent != spec.latent)
            return nullptr;
        auto impl = std::make_unique<Impl>(spec, encoderSpec);
        std::unique_ptr<VAEMCNativeDensities> native(new VAEMCNativeDensities(std::move(impl)));
        // the same numbers as the bundle's own methods on the record's features, latents and noise, or nothing
        const int L = native->latentSize(), D = native->numFeatures(), n = record.rows, S = record.slots;
        if (record.latent != L || record.numFeatures != D)
            return nullptr;
        const bool slots = record.slotNoise;
        auto close = [](double a, double b) { return std::isfinite(b) && std::abs(a - b) <= 1e-8 * (1.0 + std::abs(b)); };
        std::vector<char> periodic(D, 0);
        for (int64_t i : spec.periodicIndex) periodic[i] = 1;
        std::vector<double> mur(L), lvr(L), zs(L), xs(D);
        for (int r = 0; r < n; r++) {
            const double* x = record.x.data() + r * D;
            const double* zr = record.z.data() + r * L;
            const double* mu = record.mu.data() + r * L;
            const double* lv = record.logvar.data() + r * L;
            native->encoder().encode(x, mur.data(), lvr.data());
            for (int k = 0; k < L; k++)
                if (!close(mur[k], mu[k]) || !close(lvr[k], lv[k])) return nullptr;
            native->setFeatures(x);
            if (!close(native->encoderLogProb(zr, mu, lv), record.encoderLogProb[r]) ||
                !close(native->priorLogProb(zr), record.priorLogProb[r]) ||
                !close(native->decoderLogProb(zr), record.decoderLogProb[r]))
                return nullptr;
            const double priorSampleLogProb = native->prior().sample(record.eps.data() + r * L, zs.data());
            for (int k = 0; k < L; k++)
                if (!close(zs[k], record.priorSample[r * L + k])) return nullptr;
            if (!close(priorSampleLogProb, record.priorSampleLogProb[r])) return nullptr;
            TableUniformSource table(record.noise.data() + r * D * S, D, S);
            const double sampleLogProb = native->decoder().sample(zr, table, xs.data());
            if (slots && table.exhausted()) continue;  // TorchScript drew the missing tries itself
            if (slots && !close(sampleLogProb, record.decoderSampleLogProb[r])) return nullptr;
            for (int i = 0; i < D; i++) {
                const double b = record.decoderSample[r * D + i];
                if (!periodic[i] ? !close(xs[i], b) : slots && !(std::abs(wrapAngle(xs[i] - b)) <= 1e-8)) return nullptr;
            }
        }
        return native;
    }
    catch (const std::exception&) {  // BundleError included: an attribute it does not have
        return nullptr;
    }
}

} // namespace VAEPlugin
