#include "NativeEncoder.h"
#include "NativeDense.h"
#include <cmath>

using namespace VAEPlugin;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

MatrixXd weightOf(const VAEEncoderSpec::Layer& l) { return Eigen::Map<const RowMatrix>(l.weight.data(), l.outputs, l.inputs); }
VectorXd biasOf(const VAEEncoderSpec::Layer& l) { return Eigen::Map<const VectorXd>(l.bias.data(), l.outputs); }

} // namespace

NativeEncoder::NativeEncoder(const VAEEncoderSpec& spec)
    : D(spec.numFeatures), L(spec.latent), nonPeriodic(spec.nonPeriodicFeatures()), periodic(spec.periodicFeatures()),
      mean(Eigen::Map<const VectorXd>(spec.mean.data(), spec.mean.size())),
      scale(Eigen::Map<const VectorXd>(spec.scale.data(), spec.scale.size())), w1(weightOf(spec.layers.at(0))),
      w2(weightOf(spec.layers.at(1))), wMean(weightOf(spec.layers.at(2))), wLogVar(weightOf(spec.logvarHead)),
      b1(biasOf(spec.layers.at(0))), b2(biasOf(spec.layers.at(1))), bMean(biasOf(spec.layers.at(2))),
      bLogVar(biasOf(spec.logvarHead)) {
}

NativeEncoder::~NativeEncoder() = default;

void NativeEncoder::encode(const double* features, double* mu, double* logvar) const {
    // the model's features(): [non-periodic, cos(periodic), sin(periodic)] of the standardised x
    const int P = periodic.size(), N = nonPeriodic.size();
    VectorXd input(N + 2 * P);
    for (int k = 0; k < N; k++) input[k] = (features[nonPeriodic[k]] - mean[nonPeriodic[k]]) / scale[nonPeriodic[k]];
    for (int k = 0; k < P; k++) {
        const double x = (features[periodic[k]] - mean[periodic[k]]) / scale[periodic[k]];
        input[N + k] = std::cos(x);
        input[N + P + k] = std::sin(x);
    }
    const VectorXd h1 = denseAffine(w1, input.data(), b1).cwiseMax(0.0);
    const VectorXd h2 = denseAffine(w2, h1.data(), b2).cwiseMax(0.0);
    Eigen::Map<VectorXd>(mu, L) = denseAffine(wMean, h2.data(), bMean);
    Eigen::Map<VectorXd>(logvar, L) = denseAffine(wLogVar, h2.data(), bLogVar);
}
