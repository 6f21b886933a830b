#include "VAEDensitySpec.h"
#include "BundleSchema.h"
#include "VAEModelBundle.h"
#include <stdexcept>

using namespace VAEPlugin;

namespace {

namespace A = BundleSchema::Attribute;
namespace M = BundleSchema::Model;

const NativeModuleTree::Array& tensorAttr(const NativeModuleTree& m, const std::string& name) {
    return m.array(name);
}

VAEDensitySpec::Matrix matrixAttr(const NativeModuleTree& m, const std::string& name) {
    const NativeModuleTree::Array& t = tensorAttr(m, name);
    if (t.shape.size() != 2) throw std::runtime_error(name + " is not a matrix");
    VAEDensitySpec::Matrix result;
    result.rows = t.shape[0];
    result.cols = t.shape[1];
    result.values = t.values;
    return result;
}

std::vector<double> vectorAttr(const NativeModuleTree& m, const std::string& name) {
    return tensorAttr(m, name).values;
}

std::vector<int64_t> indexAttr(const NativeModuleTree& m, const std::string& name) {
    std::vector<int64_t> result;
    for (double v : tensorAttr(m, name).values) result.push_back(static_cast<int64_t>(v));
    return result;
}

std::string weight(const char* layer) { return std::string(layer) + M::kWeightSuffix; }
std::string bias(const char* layer) { return std::string(layer) + M::kBiasSuffix; }

/** A MADE weight with its mask applied (masked-out entries are exactly 0). */
VAEDensitySpec::Matrix maskedWeight(const NativeModuleTree& m, const char* layer, const char* mask) {
    VAEDensitySpec::Matrix w = matrixAttr(m, weight(layer)), k = matrixAttr(m, mask);
    if (w.rows != k.rows || w.cols != k.cols) throw std::runtime_error(std::string(mask) + " does not match its weight");
    for (size_t i = 0; i < w.values.size(); i++) w.values[i] *= k.values[i];
    return w;
}

} // namespace

#ifdef OPENMMVAE_WITH_TORCH
bool VAEDensitySpec::fromModule(const torch::jit::Module& bundle, VAEDensitySpec& spec, std::string& whyNot) {
    return fromTree(NativeModuleTree::fromModule(bundle), spec, whyNot);
}
#endif

bool VAEDensitySpec::fromTree(const NativeModuleTree& bundle, VAEDensitySpec& spec, std::string& whyNot) {
    try {
        spec = VAEDensitySpec();
        const NativeModuleTree& model = bundle.child(A::kModel);
        const NativeModuleTree &prior = model.child(M::kPrior), &decoder = model.child(M::kDecoder);
        spec.latent = prior.integer(M::kDim);
        const int blocks = prior.integer(M::kNumBlocks);
        for (int k = 0; k < blocks; k++) {
            const NativeModuleTree& b = prior.child(M::kBlockPrefix + std::to_string(k));
            const NativeModuleTree& s = b.child(M::kSpline);
            Coupling c;
            c.hiddenWeight = matrixAttr(b, weight(M::kHidden));
            c.outWeight = matrixAttr(b, weight(M::kOut));
            c.hiddenBias = vectorAttr(b, bias(M::kHidden));
            c.outBias = vectorAttr(b, bias(M::kOut));
            c.constantInput = b.boolean(M::kConstantInput);
            c.transformSecond = b.boolean(M::kTransformSecond);
            c.split = b.integer(M::kSplit);
            c.numTransformed = b.integer(M::kNumTransformed);
            c.spline = Spline{(int) s.integer(M::kNumBins), s.real(M::kBound), s.real(M::kMinBin),
                              s.real(M::kMinSlope), s.real(M::kSpan)};
            spec.prior.push_back(c);
        }
        const std::optional<DecoderKind> kind = parseDecoderKind(model.string(M::kDecoderKind));
        if (!kind) {
            whyNot = "unknown decoder kind";
            return false;
        }
        spec.decoderKind = *kind;
        spec.numFeatures = decoder.integer(M::kNumFeatures);
        spec.numPeriodic = decoder.integer(M::kNumPeriodic);
        spec.fixedVariance = decoder.boolean(M::kFixedVariance);
        spec.periodicIndex = indexAttr(decoder.child(M::kDist), M::kPeriodicIndex);
        spec.featureMean = vectorAttr(bundle, A::kFeatureMean);
        spec.featureScale = vectorAttr(bundle, A::kFeatureScale);
        const int D = spec.numFeatures, P = spec.numPeriodic;
        if ((int) spec.periodicIndex.size() != P || (int) spec.featureMean.size() != D || (int) spec.featureScale.size() != D) {
            whyNot = "inconsistent decoder sizes";
            return false;
        }
        std::vector<char> periodic(D, 0);
        for (int64_t i : spec.periodicIndex) {
            if (i < 0 || i >= D) {
                whyNot = "a periodic feature index is out of range";
                return false;
            }
            periodic[i] = 1;
        }
        spec.multiplicity = decoder.has(M::kMultiplicity) ? indexAttr(decoder, M::kMultiplicity) : std::vector<int64_t>(D, 1);
        if ((int) spec.multiplicity.size() != D) {
            whyNot = "the multiplicity does not match the features";
            return false;
        }
        for (int i = 0; i < D; i++)
            if (spec.multiplicity[i] < 1 || (!periodic[i] && spec.multiplicity[i] != 1)) {
                whyNot = "multiplicity[" + std::to_string(i) + "] = " + std::to_string(spec.multiplicity[i]) + " is invalid";
                return false;
            }
        const bool flow = *kind == DecoderKind::Flow;
        spec.hidden1Weight = matrixAttr(decoder, weight(M::kHidden1));
        spec.hidden1Bias = vectorAttr(decoder, bias(M::kHidden1));
        if (!flow) {
            spec.hidden2Weight = matrixAttr(decoder, weight(M::kHidden2));
            spec.hidden2Bias = vectorAttr(decoder, bias(M::kHidden2));
        }
        spec.outWeight = matrixAttr(decoder, weight(M::kOut));
        spec.outBias = vectorAttr(decoder, bias(M::kOut));
        // the conditioner columns of a masked network: [D + P] source columns (spec section 1)
        auto conditionerIndex = [&](const NativeModuleTree& m) {
            std::vector<int64_t> idx = indexAttr(m, M::kConditionerIndex);
            bool valid = (int) idx.size() == D + P;
            for (int64_t c : idx) valid = valid && c >= 0 && c < D + 2 * P;
            if (!valid) throw std::runtime_error("inconsistent conditioner_index");
            return idx;
        };
        spec.autoregressive = *kind == DecoderKind::Autoregressive;
        if (spec.autoregressive) {
            if (!decoder.has(M::kNumComponents)) {
                whyNot = "legacy autoregressive layout (no num_components): no native description";
                return false;
            }
            spec.numComponents = decoder.integer(M::kNumComponents);
            spec.paramStart = indexAttr(decoder, M::kParamStart);
            spec.hiddenGroupStart = indexAttr(decoder, M::kMadeHiddenGroupStart);
            spec.conditionerIndex = conditionerIndex(decoder);
            spec.madeHiddenWeight = maskedWeight(decoder, M::kMadeHidden, M::kMadeHiddenMask);
            spec.madeHiddenSkipWeight = matrixAttr(decoder, weight(M::kMadeHiddenSkip));
            spec.madeHiddenBias = vectorAttr(decoder, bias(M::kMadeHidden));
            spec.madeOutWeight = maskedWeight(decoder, M::kMadeOut, M::kMadeOutMask);
            spec.madeOutSkipWeight = matrixAttr(decoder, weight(M::kMadeOutSkip));
            spec.madeOutBias = vectorAttr(decoder, bias(M::kMadeOut));
            bool valid = spec.numComponents >= 1 && (int) spec.paramStart.size() == D + 1 && spec.paramStart[0] == 0 &&
                         spec.madeHiddenWeight.cols == D + P;
            for (int i = 0; i < D && valid; i++)
                valid = spec.paramStart[i + 1] - spec.paramStart[i] == (periodic[i] ? 4 * spec.numComponents : 2);
            const int64_t H = spec.madeHiddenWeight.rows;
            valid = valid && (int) spec.hiddenGroupStart.size() == D + 1 && spec.hiddenGroupStart[0] >= 0 && spec.hiddenGroupStart[D] == H;
            for (int i = 0; i < D && valid; i++) valid = spec.hiddenGroupStart[i] <= spec.hiddenGroupStart[i + 1];
            if (!valid || spec.outWeight.rows != spec.paramStart[D] || spec.madeOutWeight.rows != spec.paramStart[D]) {
                whyNot = "inconsistent autoregressive decoder layout";
                return false;
            }
        } else if (spec.outWeight.rows != (spec.fixedVariance ? D + P : 2 * D + P)) {
            whyNot = "inconsistent decoder sizes";
            return false;
        }
        if (flow) {
            const NativeModuleTree& f = decoder.child(M::kFlow);
            const int n = f.integer(M::kNumBlocks);
            for (int k = 0; k < n; k++) {
                const NativeModuleTree& b = f.child(M::kBlockPrefix + std::to_string(k));
                const NativeModuleTree& s = b.child(M::kSpline);
                if (!b.has(M::kConditionerIndex)) {
                    whyNot = "legacy flow decoder (MAF blocks without conditioner_index): no native description";
                    return false;
                }
                MAFBlock block;
                block.hiddenWeight = maskedWeight(b, M::kMadeHidden, M::kMadeHiddenMask);
                block.hiddenSkipWeight = matrixAttr(b, weight(M::kMadeHiddenSkip));
                block.hiddenBias = vectorAttr(b, bias(M::kMadeHidden));
                block.outWeight = maskedWeight(b, M::kMadeOut, M::kMadeOutMask);
                block.outSkipWeight = matrixAttr(b, weight(M::kMadeOutSkip));
                block.outBias = vectorAttr(b, bias(M::kMadeOut));
                block.conditionerIndex = conditionerIndex(b);
                block.reversed = b.boolean(M::kReversed);
                block.spline = Spline{(int) s.integer(M::kNumBins), s.real(M::kBound), s.real(M::kMinBin),
                                      s.real(M::kMinSlope), s.real(M::kSpan),
                                      s.has(M::kCircular) && s.boolean(M::kCircular)};
                block.rawPerFeature = block.outWeight.rows / D;
                const int minRaw = 3 * block.spline.bins - 1 + (block.spline.circular ? 2 : 0);
                if (block.outWeight.rows != D * block.rawPerFeature || block.rawPerFeature < minRaw ||
                    block.hiddenWeight.cols != D + P) {
                    whyNot = "inconsistent flow decoder block sizes";
                    return false;
                }
                spec.decoderFlow.push_back(block);
            }
            spec.domainScale = vectorAttr(decoder, M::kDomainScale);
            if ((int) spec.domainScale.size() != D) {
                whyNot = "inconsistent flow decoder domain scale";
                return false;
            }
        }
        return true;
    }
    catch (const std::exception& e) {  // BundleError included: an attribute it does not have
        whyNot = e.what();
        return false;
    }
}
