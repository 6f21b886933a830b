#include "VAEDensitySpec.h"
#include "BundleSchema.h"
#include <stdexcept>

using namespace VAEPlugin;

namespace {

namespace A = BundleSchema::Attribute;
namespace M = BundleSchema::Model;

torch::Tensor tensorAttr(const torch::jit::Module& m, const std::string& name) {
    if (!m.hasattr(name)) throw std::runtime_error("no attribute " + name);
    return m.attr(name).toTensor().to(torch::kFloat64).contiguous();
}

VAEDensitySpec::Matrix matrixAttr(const torch::jit::Module& m, const std::string& name) {
    torch::Tensor t = tensorAttr(m, name);
    if (t.dim() != 2) throw std::runtime_error(name + " is not a matrix");
    VAEDensitySpec::Matrix result;
    result.rows = t.size(0);
    result.cols = t.size(1);
    result.values.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    return result;
}

std::vector<double> vectorAttr(const torch::jit::Module& m, const std::string& name) {
    torch::Tensor t = tensorAttr(m, name).reshape({-1});
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

std::vector<int64_t> indexAttr(const torch::jit::Module& m, const std::string& name) {
    torch::Tensor t = m.attr(name).toTensor().to(torch::kLong).contiguous().reshape({-1});
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}

std::string weight(const char* layer) { return std::string(layer) + M::kWeightSuffix; }
std::string bias(const char* layer) { return std::string(layer) + M::kBiasSuffix; }

/** A MADE weight with its mask applied (masked-out entries are exactly 0). */
VAEDensitySpec::Matrix maskedWeight(const torch::jit::Module& m, const char* layer, const char* mask) {
    VAEDensitySpec::Matrix w = matrixAttr(m, weight(layer)), k = matrixAttr(m, mask);
    if (w.rows != k.rows || w.cols != k.cols) throw std::runtime_error(std::string(mask) + " does not match its weight");
    for (size_t i = 0; i < w.values.size(); i++) w.values[i] *= k.values[i];
    return w;
}

} // namespace

bool VAEDensitySpec::fromModule(const torch::jit::Module& bundle, VAEDensitySpec& spec, std::string& whyNot) {
    try {
        spec = VAEDensitySpec();
        torch::jit::Module model = bundle.attr(A::kModel).toModule();
        torch::jit::Module prior = model.attr(M::kPrior).toModule(), decoder = model.attr(M::kDecoder).toModule();
        spec.latent = prior.attr(M::kDim).toInt();
        const int blocks = prior.attr(M::kNumBlocks).toInt();
        for (int k = 0; k < blocks; k++) {
            torch::jit::Module b = prior.attr(M::kBlockPrefix + std::to_string(k)).toModule();
            torch::jit::Module s = b.attr(M::kSpline).toModule();
            Coupling c;
            c.hiddenWeight = matrixAttr(b, weight(M::kHidden));
            c.outWeight = matrixAttr(b, weight(M::kOut));
            c.hiddenBias = vectorAttr(b, bias(M::kHidden));
            c.outBias = vectorAttr(b, bias(M::kOut));
            c.constantInput = b.attr(M::kConstantInput).toBool();
            c.transformSecond = b.attr(M::kTransformSecond).toBool();
            c.split = b.attr(M::kSplit).toInt();
            c.numTransformed = b.attr(M::kNumTransformed).toInt();
            c.spline = Spline{(int) s.attr(M::kNumBins).toInt(), s.attr(M::kBound).toDouble(), s.attr(M::kMinBin).toDouble(),
                              s.attr(M::kMinSlope).toDouble(), s.attr(M::kSpan).toDouble()};
            spec.prior.push_back(c);
        }
        if (decoder.hasattr(M::kFlow) || !decoder.hasattr(weight(M::kHidden2))) {
            whyNot = "the decoder is not of the base-network kind";
            return false;
        }
        spec.numFeatures = decoder.attr(M::kNumFeatures).toInt();
        spec.numPeriodic = decoder.attr(M::kNumPeriodic).toInt();
        spec.fixedVariance = decoder.attr(M::kFixedVariance).toBool();
        spec.hidden1Weight = matrixAttr(decoder, weight(M::kHidden1));
        spec.hidden2Weight = matrixAttr(decoder, weight(M::kHidden2));
        spec.outWeight = matrixAttr(decoder, weight(M::kOut));
        spec.hidden1Bias = vectorAttr(decoder, bias(M::kHidden1));
        spec.hidden2Bias = vectorAttr(decoder, bias(M::kHidden2));
        spec.outBias = vectorAttr(decoder, bias(M::kOut));
        spec.autoregressive = decoder.hasattr(weight(M::kMadeHidden));
        if (spec.autoregressive) {
            spec.madeHiddenWeight = maskedWeight(decoder, M::kMadeHidden, M::kMadeHiddenMask);
            spec.madeHiddenSkipWeight = matrixAttr(decoder, weight(M::kMadeHiddenSkip));
            spec.madeHiddenBias = vectorAttr(decoder, bias(M::kMadeHidden));
            spec.madeOutWeight = maskedWeight(decoder, M::kMadeOut, M::kMadeOutMask);
            spec.madeOutSkipWeight = matrixAttr(decoder, weight(M::kMadeOutSkip));
            spec.madeOutBias = vectorAttr(decoder, bias(M::kMadeOut));
        }
        spec.periodicIndex = indexAttr(decoder.attr(M::kDist).toModule(), M::kPeriodicIndex);
        spec.featureMean = vectorAttr(bundle, A::kFeatureMean);
        spec.featureScale = vectorAttr(bundle, A::kFeatureScale);
        const int D = spec.numFeatures, P = spec.numPeriodic;
        if ((int) spec.periodicIndex.size() != P || (int) spec.featureMean.size() != D || (int) spec.featureScale.size() != D ||
            spec.outWeight.rows != (spec.fixedVariance ? D + P : 2 * D + P)) {
            whyNot = "inconsistent decoder sizes";
            return false;
        }
        for (int64_t i : spec.periodicIndex)
            if (i < 0 || i >= D) {
                whyNot = "a periodic feature index is out of range";
                return false;
            }
        return true;
    }
    catch (const std::exception& e) {  // c10::Error included: an attribute it does not have
        whyNot = e.what();
        return false;
    }
}
