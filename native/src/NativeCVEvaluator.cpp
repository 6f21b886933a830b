#include "NativeCVEvaluator.h"
#include "openmm/OpenMMException.h"
#include <cmath>

using namespace VAEPlugin;

template <class Real>
NativeCVEvaluator<Real>::NativeCVEvaluator(const VAEEncoderSpec& spec)
    : featureMap(spec), numAtoms(spec.numAtoms), numFeatures(spec.numFeatures), nonPeriodic(spec.nonPeriodicFeatures()),
      periodic(spec.periodicFeatures()), mean(spec.mean), scale(spec.scale), features(spec.numFeatures), standardized(spec.numFeatures), featureGradient(spec.numFeatures) {
    for (const VAEEncoderSpec::Layer& l : spec.layers) {
        Layer layer;
        layer.weight = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(l.weight.data(), l.outputs, l.inputs).cast<Real>();
        layer.bias = Eigen::Map<const Eigen::VectorXd>(l.bias.data(), l.outputs).cast<Real>();
        layer.preactivation.resize(l.outputs);
        layer.output.resize(l.outputs);
        layer.inputGradient.resize(l.inputs);
        layer.relu = l.relu;
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
    for (int i : periodic)
        input[k++] = (Real) std::cos(standardized[i]);
    for (int i : periodic)
        input[k++] = (Real) std::sin(standardized[i]);
    const Vector* h = &input;
    for (Layer& layer : layers) {
        layer.preactivation.noalias() = layer.weight * (*h);
        layer.preactivation += layer.bias;
        layer.output = layer.relu ? layer.preactivation.cwiseMax(Real(0)) : layer.preactivation;
        h = &layer.output;
    }
    z.resize(h->size());
    for (int i = 0; i < (int) h->size(); i++)
        z[i] = (double) (*h)[i];
}

template <class Real>
void NativeCVEvaluator<Real>::backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) {
    gradient = Eigen::Map<const Eigen::VectorXd>(dEdz.data(), dEdz.size()).cast<Real>();
    for (int l = (int) layers.size() - 1; l >= 0; l--) {
        Layer& layer = layers[l];
        if (layer.relu)
            gradient = (layer.preactivation.array() > Real(0)).select(gradient, Real(0));
        layer.inputGradient.noalias() = layer.weight.transpose() * gradient;
        gradient = layer.inputGradient;
    }
    // Back through (cos, sin) and the standardisation to the features.
    std::vector<double>& dEdFeature = featureGradient;
    int k = 0;
    for (int i : nonPeriodic)
        dEdFeature[i] = (double) gradient[k++];
    int numPeriodic = periodic.size();
    for (int j = 0; j < numPeriodic; j++) {
        int i = periodic[j];
        double s = standardized[i];
        dEdFeature[i] = -std::sin(s) * (double) gradient[k + j] + std::cos(s) * (double) gradient[k + numPeriodic + j];
    }
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
