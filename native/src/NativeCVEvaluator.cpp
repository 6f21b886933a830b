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
    forwardMultiplyAdds = 0;
    for (Layer& layer : layers) {
        Real* y = layer.preactivation.data();
        if (layer.rowMajor.empty() || layer.outputs >= 16) {  // enough outputs to fill the vector registers
            std::copy(layer.bias.begin(), layer.bias.end(), y);
            axpyNonzeroColumns(kernels, layer.outputs, layer.inputs, layer.columnMajor.data(), h, y);
            forwardMultiplyAdds += (long long) layer.outputs * std::count_if(h, h + layer.inputs, [](Real v) { return v != Real(0); });
        } else {
            dotMaskedColumns(kernels, layer.inputs, layer.outputs, layer.rowMajor.data(), h, nullptr, y);
            forwardMultiplyAdds += (long long) layer.outputs * layer.inputs;
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
    backwardMultiplyAdds = 0;
    for (int l = (int) layers.size() - 1; l >= 0; l--) {
        Layer& layer = layers[l];
        if (layer.relu)  // without a branch per unit (activity is close to a coin toss)
            for (int o = 0; o < layer.outputs; o++) gradient[o] = layer.preactivation[o] > Real(0) ? gradient[o] : Real(0);
        // Only the gradient of active units below is used (the layer below masks the rest).
        const Real* mask = l > 0 && layers[l - 1].relu ? layers[l - 1].preactivation.data() : nullptr;
        long activeInputs = layer.inputs, nonzeroGradients = 0;
        if (mask != nullptr)
            activeInputs = std::count_if(mask, mask + layer.inputs, [](Real v) { return v > Real(0); });
        for (int o = 0; o < layer.outputs; o++) nonzeroGradients += gradient[o] != Real(0);
        if (!layer.rowMajor.empty() && passCost(nonzeroGradients, layer.inputs) < passCost(activeInputs, layer.outputs)) {
            std::fill(layer.inputGradient.begin(), layer.inputGradient.end(), Real(0));
            axpyNonzeroColumns(kernels, layer.inputs, layer.outputs, layer.rowMajor.data(), gradient.data(), layer.inputGradient.data());
            backwardMultiplyAdds += nonzeroGradients * layer.inputs;
        } else {
            dotMaskedColumns(kernels, layer.outputs, layer.inputs, layer.columnMajor.data(), gradient.data(), mask, layer.inputGradient.data());
            backwardMultiplyAdds += activeInputs * layer.outputs;
        }
        gradient.assign(layer.inputGradient.begin(), layer.inputGradient.end());
    }
    // Back through (cos, sin) and the standardisation to the features.
    std::vector<double>& dEdFeature = featureGradient;
    int k = 0;
    for (int i : nonPeriodic)
        dEdFeature[i] = (double) gradient[k++];
    int numPeriodic = periodic.size();
    for (int j = 0; j < numPeriodic; j++)
        dEdFeature[periodic[j]] = -periodicSin[j] * (double) gradient[k + j] + periodicCos[j] * (double) gradient[k + numPeriodic + j];
    for (int i = 0; i < numFeatures; i++)
        dEdFeature[i] /= scale[i];
    // Back through the featurisation to the positions.
    featureMap.backward(dEdFeature, dEdPositions);
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
