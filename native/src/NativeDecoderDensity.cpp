#include "NativeDecoderDensity.h"
#include "DensitySpecEigen.h"
#include <algorithm>
#include <cmath>

using namespace VAEPlugin;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

/** exp(-k) I0(k), k >= 0 (torch.special.i0e), in double. */
double i0e(double k) {
    if (k <= 700.0) return std::cyl_bessel_i(0.0, k) * std::exp(-k);
    // asymptotic series, terms a_n = ((2n-1)!!)^2 / (n! 8^n k^n); the sixth is below 1e-15 here
    double term = 1.0, sum = 1.0;
    for (int n = 1; n <= 6; n++) {
        term *= (2.0 * n - 1.0) * (2.0 * n - 1.0) / (8.0 * n * k);
        sum += term;
    }
    return sum / std::sqrt(2.0 * M_PI * k);
}

} // namespace

NativeDecoderDensity::NativeDecoderDensity(const VAEDensitySpec& spec)
    : L(spec.latent), D(spec.numFeatures), P(spec.numPeriodic), w1(toEigen(spec.hidden1Weight)), w2(toEigen(spec.hidden2Weight)),
      wOut(toEigen(spec.outWeight)), b1(toEigen(spec.hidden1Bias)), b2(toEigen(spec.hidden2Bias)), bOut(toEigen(spec.outBias)),
      fixedVariance(spec.fixedVariance), autoregressive(spec.autoregressive), periodic(spec.periodicIndex),
      featureMean(toEigen(spec.featureMean)), featureScale(toEigen(spec.featureScale)) {
    if (autoregressive) {
        madeHidden = toEigen(spec.madeHiddenWeight);
        madeHiddenSkip = toEigen(spec.madeHiddenSkipWeight);
        madeHiddenBias = toEigen(spec.madeHiddenBias);
        madeOut = toEigen(spec.madeOutWeight);
        madeOutSkip = toEigen(spec.madeOutSkipWeight);
        madeOutBias = toEigen(spec.madeOutBias);
    }
    isPeriodic.assign(D, 0);
    for (int64_t i : periodic) isPeriodic.at(i) = 1;
    logScaleSum = featureScale.array().log().sum();
    x = VectorXd::Zero(D);
}

void NativeDecoderDensity::setFeatures(const double* features) {
    x = (Eigen::Map<const VectorXd>(features, D) - featureMean).cwiseQuotient(featureScale);
    if (autoregressive) {
        VectorXd wrapped = x;
        for (int64_t i : periodic)  // dist.wrap: remainder(x + pi, 2 pi) - pi
            wrapped[i] = x[i] + M_PI - 2.0 * M_PI * std::floor((x[i] + M_PI) / (2.0 * M_PI)) - M_PI;
        madeHiddenOfX = madeHidden * wrapped + madeHiddenBias;
    }
}

double NativeDecoderDensity::logProb(const double* zp) const {
    Eigen::Map<const VectorXd> z(zp, L);
    VectorXd out = wOut * (w2 * (w1 * z + b1).array().tanh().matrix() + b2).array().tanh().matrix() + bOut;
    if (autoregressive) {
        VectorXd h = (madeHiddenOfX + madeHiddenSkip * z).array().tanh();
        out += madeOut * h + madeOutSkip * z + madeOutBias;
    }
    double lp = 0;
    for (int k = 0; k < P; k++) {
        const int64_t i = periodic[k];
        const double lv = fixedVariance ? 0.0 : std::max(out[D + P + i], -15.0);
        const double kappa = std::exp(-lv), mean = std::atan2(out[D + k], out[i]);
        lp += kappa * (std::cos(x[i] - mean) - 1.0) - std::log(i0e(kappa));
    }
    lp -= P * kLn2Pi;
    for (int i = 0; i < D; i++) {
        if (isPeriodic[i]) continue;
        const double lv = fixedVariance ? 0.0 : std::max(out[D + P + i], -15.0), dx = x[i] - out[i];
        lp -= 0.5 * (dx * dx * std::exp(-lv) + lv);
    }
    lp -= 0.5 * kLn2Pi * (D - P);
    return lp - logScaleSum;
}
