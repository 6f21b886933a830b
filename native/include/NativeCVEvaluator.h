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
    /**
     * The multiply-adds of the dense passes of the last evaluate and backward (inactive units
     * skipped), counted from their state on request, not in the MD step: bench/cv_force/roofline.cpp.
     */
    long long multiplyAddsOfLastEvaluation() const;
private:
    /**
     * A dense layer with the buffers of its forward and backward pass (no allocation per step). The
     * weights are column-major: the forward pass adds one column per active (non-zero) input, the
     * backward pass takes one dot product per active input of the layer below. A layer with fewer
     * outputs than a vector register holds also keeps them row-major (forward: one dot product per
     * output; backward: one row per output with a non-zero gradient), and the backward pass takes
     * whichever form reads fewer weights at this step. (A row-major copy of the first layer as well
     * halved its backward multiply-adds but gave no measurable gain: the passes are bound by reading
     * the weights from L2, which the copy crowds.)
     */
    struct Layer {
        int inputs, outputs;
        bool relu;
        std::vector<Real> columnMajor, rowMajor, bias, preactivation, output, inputGradient;
        long backwardRows = -1;  ///< rows of the row-major backward pass of the last step; -1: the column form ran
    };
    /** Whether the forward pass of a layer adds weight columns (else it takes row-major dot products). */
    static bool forwardByColumns(const Layer& layer) { return layer.rowMajor.empty() || layer.outputs >= 16; }
    NativeFeatureMap featureMap;
    int numAtoms, numFeatures;
    std::vector<int> nonPeriodic, periodic;
    std::vector<double> mean, scale;
    std::vector<Layer> layers;
    std::vector<Real> input, gradient;
    std::vector<double> features, standardized, featureGradient;
    std::vector<double> periodicCos, periodicSin;  ///< of the standardised periodic features, from the forward pass
};

/** A native evaluator for the spec in the requested precision ("single" or "double"). */
std::unique_ptr<CVEvaluator> createNativeCVEvaluator(const VAEEncoderSpec& spec, const std::string& precision);

} // namespace VAEPlugin

#endif
