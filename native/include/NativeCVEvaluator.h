#ifndef OPENMM_VAE_NATIVE_CV_EVALUATOR_H_
#define OPENMM_VAE_NATIVE_CV_EVALUATOR_H_

#include "CVEvaluator.h"
#include "NativeFeatureMap.h"
#include "VAEEncoderSpec.h"
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * The bundle's CV evaluated natively: featurisation (NativeFeatureMap), standardisation,
 * (cos, sin) of periodic features, the encoder-mean MLP in precision Real (float or double) with the
 * dense kernels of the CPU's instruction set (chosen at run time, isa/DenseKernels.h), and the
 * analytic backward pass to the positions, which reads only the weights of active ReLU units.
 * Featurisation and its derivatives are always in double.
 */
template <class Real>
class NativeCVEvaluator : public CVEvaluator {
public:
    explicit NativeCVEvaluator(const VAEEncoderSpec& spec);
    void evaluate(const std::vector<double>& positions, std::vector<double>& z, bool withGradient) override;
    void backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) override;
    std::string name() const override;
private:
    /**
     * A dense layer with the buffers of its forward and backward pass (no allocation per step). The
     * weights are stored column-major when the layer has at least as many outputs as inputs (forward:
     * one column per active input; backward: one dot product per active input), else row-major (one
     * dot product per output; backward: one column per output); isa/DenseKernels.h.
     */
    struct Layer {
        int inputs, outputs;
        bool relu, rowMajor;
        std::vector<Real> weight, bias, preactivation, output, inputGradient;
    };
    NativeFeatureMap featureMap;
    int numAtoms, numFeatures;
    std::vector<int> nonPeriodic, periodic;
    std::vector<double> mean, scale;
    std::vector<Layer> layers;
    std::vector<Real> input, gradient;
    std::vector<double> features, standardized, featureGradient;
};

/** A native evaluator for the spec in the requested precision ("single" or "double"). */
std::unique_ptr<CVEvaluator> createNativeCVEvaluator(const VAEEncoderSpec& spec, const std::string& precision);

} // namespace VAEPlugin

#endif
