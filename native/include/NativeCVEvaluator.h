#ifndef OPENMM_VAE_NATIVE_CV_EVALUATOR_H_
#define OPENMM_VAE_NATIVE_CV_EVALUATOR_H_

#include "CVEvaluator.h"
#include "NativeFeatureMap.h"
#include "VAEEncoderSpec.h"
#include <Eigen/Dense>
#include <memory>

namespace VAEPlugin {

/**
 * The bundle's CV evaluated natively: featurisation (NativeFeatureMap), standardisation,
 * (cos, sin) of periodic features, the encoder-mean MLP with Eigen in precision Real (float or
 * double), and the analytic backward pass to the positions. Featurisation and its derivatives are
 * always in double.
 */
template <class Real>
class NativeCVEvaluator : public CVEvaluator {
public:
    explicit NativeCVEvaluator(const VAEEncoderSpec& spec);
    void evaluate(const std::vector<double>& positions, std::vector<double>& z, bool withGradient) override;
    void backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) override;
    std::string name() const override;
private:
    using Matrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Vector = Eigen::Matrix<Real, Eigen::Dynamic, 1>;
    /** A dense layer with the buffers of its forward and backward pass (no allocation per step). */
    struct Layer {
        Matrix weight;
        Vector bias, preactivation, output, inputGradient;
        bool relu;
    };
    NativeFeatureMap featureMap;
    int numAtoms, numFeatures;
    std::vector<int> nonPeriodic, periodic;
    std::vector<double> mean, scale;
    std::vector<Layer> layers;
    Vector input, gradient;
    std::vector<double> features, standardized, featureGradient;
};

/** A native evaluator for the spec in the requested precision ("single" or "double"). */
std::unique_ptr<CVEvaluator> createNativeCVEvaluator(const VAEEncoderSpec& spec, const std::string& precision);

} // namespace VAEPlugin

#endif
