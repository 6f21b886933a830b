#include "NativeCVEvaluator.h"
#include "isa/DenseKernels.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>

using namespace VAEPlugin;

namespace {

// The kernels of one precision.
void axpyNonzeroColumns(const DenseKernels& k, int rows, int cols, const float* a, const float* x, float* y) {
    k.axpyNonzeroColumnsFloat(rows, cols, a, rows, x, y);
}
void axpyNonzeroColumns(const DenseKernels& k, int rows, int cols, const double* a, const double* x, double* y) {
    k.axpyNonzeroColumnsDouble(rows, cols, a, rows, x, y);
}
void dotMaskedColumns(const DenseKernels& k, int rows, int cols, const float* a, const float* g, const float* mask, float* out) {
    k.dotMaskedColumnsFloat(rows, cols, a, rows, g, mask, out);
}
void dotMaskedColumns(const DenseKernels& k, int rows, int cols, const double* a, const double* g, const double* mask, double* out) {
    k.dotMaskedColumnsDouble(rows, cols, a, rows, g, mask, out);
}

// The cost of a pass over `columns` weight columns of `rows` values: the rows rounded up to whole
// vectors, plus a fixed cost per column (its remainder and loop overhead), in multiply-adds.
long passCost(long columns, long rows) {
    return columns * ((rows + 15) / 16 * 16 + 16);
}

} // namespace

template <class Real>
NativeCVEvaluator<Real>::NativeCVEvaluator(const VAEEncoderSpec& spec)
    : featureMap(spec), numAtoms(spec.numAtoms), numFeatures(spec.numFeatures), nonPeriodic(spec.nonPeriodicFeatures()),
      periodic(spec.periodicFeatures()), mean(spec.mean), scale(spec.scale), features(spec.numFeatures), standardized(spec.numFeatures), featureGradient(spec.numFeatures),
      periodicCos(periodic.size()), periodicSin(periodic.size()) {
    denseKernels();  // an OPENMMVAE_INSTRUCTION_SET this CPU cannot run is reported here, when the Context is made
    for (const VAEEncoderSpec::Layer& l : spec.layers) {
        Layer layer;
        layer.inputs = l.inputs;
        layer.outputs = l.outputs;
        layer.relu = l.relu;
        const size_t size = static_cast<size_t>(l.outputs) * l.inputs;
        layer.columnMajor.resize(size);
        if (l.outputs < 16) layer.rowMajor.resize(size);
        for (int o = 0; o < l.outputs; o++)  // the spec's weights are row-major [outputs, inputs]
            for (int i = 0; i < l.inputs; i++) {
                const Real w = (Real) l.weight[static_cast<size_t>(o) * l.inputs + i];
                layer.columnMajor[static_cast<size_t>(i) * l.outputs + o] = w;
                if (!layer.rowMajor.empty()) layer.rowMajor[static_cast<size_t>(o) * l.inputs + i] = w;
            }
        layer.bias.assign(l.bias.begin(), l.bias.end());
        layer.preactivation.resize(l.outputs);
        layer.output.resize(l.outputs);
        layer.inputGradient.resize(l.inputs);
        layers.push_back(std::move(layer));
    }
    input.resize(nonPeriodic.size() + 2 * periodic.size());
}

template <class Real>
std::string NativeCVEvaluator<Real>::name() const {
    return sizeof(Real) == sizeof(float) ? "native-single" : "native-double";
}

template <class Real>
void NativeCVEvaluator<Real>::evaluate(const std::vector<double>& positions, std::vector<double>& z, bool withGradient) {
    // Features of the selected atoms (same definitions as the bundle's featurize method).
    featureMap.evaluate(positions, features);
    for (int i = 0; i < numFeatures; i++)
        standardized[i] = (features[i] - mean[i]) / scale[i];
    int k = 0;
    for (int i : nonPeriodic)
        input[k++] = (Real) standardized[i];
    const int numPeriodic = periodic.size();
    for (int j = 0; j < numPeriodic; j++) {  // kept for the backward pass
        periodicCos[j] = std::cos(standardized[periodic[j]]);
        periodicSin[j] = std::sin(standardized[periodic[j]]);
    }
    for (int j = 0; j < numPeriodic; j++)
        input[k++] = (Real) periodicCos[j];
    for (int j = 0; j < numPeriodic; j++)
        input[k++] = (Real) periodicSin[j];
    const DenseKernels& kernels = denseKernels();
    const Real* h = input.data();
    for (Layer& layer : layers) {
        Real* y = layer.preactivation.data();
        if (forwardByColumns(layer)) {  // enough outputs to fill the vector registers
            std::copy(layer.bias.begin(), layer.bias.end(), y);
            axpyNonzeroColumns(kernels, layer.outputs, layer.inputs, layer.columnMajor.data(), h, y);
        } else {
            dotMaskedColumns(kernels, layer.inputs, layer.outputs, layer.rowMajor.data(), h, nullptr, y);
            for (int o = 0; o < layer.outputs; o++) y[o] += layer.bias[o];
        }
        for (int o = 0; o < layer.outputs; o++)
            layer.output[o] = layer.relu && y[o] <= Real(0) ? Real(0) : y[o];  // NaN stays NaN
        h = layer.output.data();
    }
    const Layer& last = layers.back();
    z.resize(last.outputs);
    for (int i = 0; i < last.outputs; i++)
        z[i] = (double) h[i];
}

template <class Real>
void NativeCVEvaluator<Real>::backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) {
    const DenseKernels& kernels = denseKernels();
    gradient.assign(dEdz.begin(), dEdz.end());
    Real* g = gradient.data();  // dE/d(outputs) of the layer at hand, then that layer's inputGradient
    for (int l = (int) layers.size() - 1; l >= 0; l--) {
        Layer& layer = layers[l];
        if (layer.relu)  // without a branch per unit (activity is close to a coin toss)
            for (int o = 0; o < layer.outputs; o++) g[o] = layer.preactivation[o] > Real(0) ? g[o] : Real(0);
        // Only the gradient of active units below is used (the layer below masks the rest).
        const Real* mask = l > 0 && layers[l - 1].relu ? layers[l - 1].preactivation.data() : nullptr;
        layer.backwardRows = -1;
        if (!layer.rowMajor.empty()) {  // both forms at hand: the one that reads fewer weights
            const long activeInputs = mask == nullptr ? layer.inputs : std::count_if(mask, mask + layer.inputs, [](Real v) { return v > Real(0); });
            const long nonzeroGradients = std::count_if(g, g + layer.outputs, [](Real v) { return v != Real(0); });
            if (passCost(nonzeroGradients, layer.inputs) < passCost(activeInputs, layer.outputs))
                layer.backwardRows = nonzeroGradients;
        }
        if (layer.backwardRows >= 0) {
            std::fill(layer.inputGradient.begin(), layer.inputGradient.end(), Real(0));
            axpyNonzeroColumns(kernels, layer.inputs, layer.outputs, layer.rowMajor.data(), g, layer.inputGradient.data());
        } else
            dotMaskedColumns(kernels, layer.outputs, layer.inputs, layer.columnMajor.data(), g, mask, layer.inputGradient.data());
        g = layer.inputGradient.data();
    }
    // Back through (cos, sin) and the standardisation to the features.
    std::vector<double>& dEdFeature = featureGradient;
    int k = 0;
    for (int i : nonPeriodic)
        dEdFeature[i] = (double) g[k++];
    int numPeriodic = periodic.size();
    for (int j = 0; j < numPeriodic; j++)
        dEdFeature[periodic[j]] = -periodicSin[j] * (double) g[k + j] + periodicCos[j] * (double) g[k + numPeriodic + j];
    for (int i = 0; i < numFeatures; i++)
        dEdFeature[i] /= scale[i];
    // Back through the featurisation to the positions.
    featureMap.backward(dEdFeature, dEdPositions);
}

template <class Real>
long long NativeCVEvaluator<Real>::multiplyAddsOfLastEvaluation() const {
    auto count = [](const std::vector<Real>& v, bool activeOnly) {
        return (long long) std::count_if(v.begin(), v.end(), [activeOnly](Real x) { return activeOnly ? x > Real(0) : x != Real(0); });
    };
    long long total = 0;
    for (size_t l = 0; l < layers.size(); l++) {
        const Layer& layer = layers[l];
        const bool reluBelow = l > 0 && layers[l - 1].relu;
        total += forwardByColumns(layer) ? layer.outputs * count(l == 0 ? input : layers[l - 1].output, false)
                                         : (long long) layer.outputs * layer.inputs;
        if (layer.backwardRows >= 0)
            total += (long long) layer.backwardRows * layer.inputs;
        else
            total += layer.outputs * (reluBelow ? count(layers[l - 1].preactivation, true) : (long long) layer.inputs);
    }
    return total;
}

std::unique_ptr<CVEvaluator> VAEPlugin::createNativeCVEvaluator(const VAEEncoderSpec& spec, const std::string& precision) {
    if (precision == "double")
        return std::unique_ptr<CVEvaluator>(new NativeCVEvaluator<double>(spec));
    if (precision == "single")
        return std::unique_ptr<CVEvaluator>(new NativeCVEvaluator<float>(spec));
    throw OpenMM::OpenMMException("VAECVForce: unknown precision '" + precision + "'");
}

template class VAEPlugin::NativeCVEvaluator<float>;
template class VAEPlugin::NativeCVEvaluator<double>;
