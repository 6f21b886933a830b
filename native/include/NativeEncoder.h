#ifndef OPENMM_VAE_NATIVE_ENCODER_H_
#define OPENMM_VAE_NATIVE_ENCODER_H_

#include "VAEEncoderSpec.h"
#include <Eigen/Dense>
#include <vector>

namespace VAEPlugin {

/**
 * The bundle's encode(x) in native code (double precision): standardisation, the encoder input
 * [non-periodic, cos(periodic), sin(periodic)], two ReLU layers and both heads, mean and
 * log-variance, for ln q(z|x) of a move's configurations. Features in, not positions (the CV path
 * with positions and gradients is NativeCVEvaluator).
 */
class NativeEncoder {
public:
    explicit NativeEncoder(const VAEEncoderSpec& spec);
    /** Out of line: Eigen buffers are freed by the library that allocated them. */
    ~NativeEncoder();
    NativeEncoder(const NativeEncoder&) = delete;
    NativeEncoder& operator=(const NativeEncoder&) = delete;
    int numFeatures() const { return D; }
    int latentSize() const { return L; }
    /** mu and logvar (L values each) of D unstandardised features. */
    void encode(const double* features, double* mu, double* logvar) const;
private:
    int D, L;
    std::vector<int> nonPeriodic, periodic;
    Eigen::VectorXd mean, scale;
    Eigen::MatrixXd w1, w2, wMean, wLogVar;
    Eigen::VectorXd b1, b2, bMean, bLogVar;
};

} // namespace VAEPlugin

#endif
