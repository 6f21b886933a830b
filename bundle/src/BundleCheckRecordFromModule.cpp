// BundleCheckRecord::fromModule: the bundle's TorchScript methods on the record's inputs (OPENMMVAE_WITH_TORCH builds only).
#include "BundleCheckRecord.h"
#include "BundleSchema.h"
#include "VAEModelBundle.h"

#include <random>

namespace VAEPlugin {

namespace {

std::vector<double> doubles(const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

} // namespace

BundleCheckRecord BundleCheckRecord::fromModule(torch::jit::Module& bundle, int probeAtoms, const std::string& source, bool withDensities) {
    namespace Mt = BundleSchema::Method;
    namespace A = BundleSchema::Attribute;
    namespace M = BundleSchema::Model;
    torch::NoGradGuard noGrad;
    BundleCheckRecord r;
    r.probeAtoms = probeAtoms;
    if (probeAtoms > 0) {
        std::vector<double> p = VAEModelBundle::probePositions(probeAtoms);
        torch::Tensor positions = torch::from_blob(p.data(), {probeAtoms, 3}, torch::kFloat64).clone();
        r.probeLatent = doubles(VAEModelBundle::evaluate(bundle, positions, source));
    }
    if (!withDensities) return r;
    for (const char* m : {Mt::kEncode, Mt::kEncoderLogProb, Mt::kPriorLogProb, Mt::kPriorSample, Mt::kDecoderLogProb, Mt::kDecoderSample})
        if (!bundle.find_method(m)) return r;
    try {
        torch::Tensor mean = bundle.attr(A::kFeatureMean).toTensor().to(torch::kFloat64);
        torch::Tensor scale = bundle.attr(A::kFeatureScale).toTensor().to(torch::kFloat64);
        // decoders of the slot layout take [B, D, S] noise; older ones (no multiplicity) only [B, D],
        // whose periodic columns TorchScript completes with torch.rand: only the others compare
        torch::jit::Module decoder = bundle.attr(A::kModel).toModule().attr(M::kDecoder).toModule();
        r.slotNoise = decoder.hasattr(M::kMultiplicity);
        r.rows = 6;
        r.numFeatures = mean.numel();
        r.latent = bundle.attr(A::kLatent).toInt();
        r.slots = r.slotNoise ? BundleSchema::kCheckNoiseSlots : 1;
        const int R = r.rows, D = r.numFeatures, L = r.latent, S = r.slots;
        std::mt19937_64 rng(12345);
        std::normal_distribution<double> normal;
        r.noiseSeed = rng();
        const std::vector<double> uniforms = noiseOf(r.noiseSeed, static_cast<size_t>(R) * D * S);
        const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
        torch::Tensor x = torch::empty({R, D}, opts), z = torch::empty({R, L}, opts), eps = torch::empty({R, L}, opts);
        torch::Tensor noise = torch::empty({R, D, S}, opts);
        for (int row = 0; row < R; row++) {
            for (int i = 0; i < D; i++) {
                x[row][i] = mean[i].item<double>() + scale[i].item<double>() * normal(rng);
                for (int s = 0; s < S; s++) noise[row][i][s] = uniforms[(static_cast<size_t>(row) * D + i) * S + s];
            }
            for (int k = 0; k < L; k++) {
                z[row][k] = (1.0 + row) * normal(rng);
                eps[row][k] = (1.0 + row) * normal(rng);
            }
        }
        auto call = [&](const char* method, std::vector<c10::IValue> args) { return bundle.get_method(method)(std::move(args)); };
        auto enc = call(Mt::kEncode, {x}).toTuple();
        torch::Tensor mu = enc->elements()[0].toTensor(), lv = enc->elements()[1].toTensor();
        torch::Tensor priorSample = call(Mt::kPriorSample, {eps}).toTensor();
        torch::Tensor decoderSample = call(Mt::kDecoderSample, {z, r.slotNoise ? noise : noise.select(2, 0).contiguous()}).toTensor();
        r.x = doubles(x);
        r.z = doubles(z);
        r.eps = doubles(eps);
        r.noise = doubles(noise);
        r.mu = doubles(mu);
        r.logvar = doubles(lv);
        r.encoderLogProb = doubles(call(Mt::kEncoderLogProb, {z, mu, lv}).toTensor().reshape({-1}));
        r.priorLogProb = doubles(call(Mt::kPriorLogProb, {z}).toTensor().reshape({-1}));
        r.decoderLogProb = doubles(call(Mt::kDecoderLogProb, {x, z}).toTensor().reshape({-1}));
        r.priorSample = doubles(priorSample);
        r.priorSampleLogProb = doubles(call(Mt::kPriorLogProb, {priorSample}).toTensor().reshape({-1}));
        r.decoderSample = doubles(decoderSample);
        // the density a sampler returns with its sample: that of decoder_log_prob at the sample
        r.decoderSampleLogProb = doubles(call(Mt::kDecoderLogProb, {decoderSample, z}).toTensor().reshape({-1}));
        const size_t sizes[] = {size_t(R * L), size_t(R * L), size_t(R), size_t(R), size_t(R), size_t(R * L), size_t(R), size_t(R * D), size_t(R)};
        const std::vector<double>* outputs[] = {&r.mu, &r.logvar, &r.encoderLogProb, &r.priorLogProb, &r.decoderLogProb,
                                                &r.priorSample, &r.priorSampleLogProb, &r.decoderSample, &r.decoderSampleLogProb};
        bool consistent = true;
        for (int i = 0; i < 9; i++) consistent = consistent && outputs[i]->size() == sizes[i];
        r.hasDensities = consistent;
    } catch (const std::exception&) {  // c10::Error included: an attribute or method it does not have
        r.hasDensities = false;
    }
    return r;
}

} // namespace VAEPlugin
