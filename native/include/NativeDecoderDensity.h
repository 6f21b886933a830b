#ifndef OPENMM_VAE_NATIVE_DECODER_DENSITY_H_
#define OPENMM_VAE_NATIVE_DECODER_DENSITY_H_

#include "VAEDensitySpec.h"
#include <Eigen/Dense>
#include <cstdint>
#include <vector>

namespace VAEPlugin {

/**
 * ln P(x|z) of a bundle's decoder of the base-network kind (mse, condind, autoregressive; trainer/model
 * Decoders) in double precision, as the bundle's decoder_log_prob: Gaussian non-periodic and von Mises
 * periodic features, of the raw (unstandardised) features. The part of an autoregressive decoder that
 * depends on x alone is computed once per configuration (setFeatures).
 */
class NativeDecoderDensity {
public:
    explicit NativeDecoderDensity(const VAEDensitySpec& spec);
    int numFeatures() const { return D; }
    /** The configuration of the following logProb calls: its features x (D values, unstandardised). */
    void setFeatures(const double* features);
    /** ln P(x|z) for the features of the last setFeatures and z of the latent size. */
    double logProb(const double* z) const;
private:
    int L, D, P;
    // base network of z, optional MADE, output layout [loc (D), s (P), logvar (D)]
    Eigen::MatrixXd w1, w2, wOut;
    Eigen::VectorXd b1, b2, bOut;
    bool fixedVariance, autoregressive;
    Eigen::MatrixXd madeHidden, madeHiddenSkip, madeOut, madeOutSkip;  // masked weights
    Eigen::VectorXd madeHiddenBias, madeOutBias;
    std::vector<int64_t> periodic;
    std::vector<char> isPeriodic;
    Eigen::VectorXd featureMean, featureScale;
    double logScaleSum;
    // the configuration of setFeatures
    Eigen::VectorXd x, madeHiddenOfX;
};

} // namespace VAEPlugin

#endif
