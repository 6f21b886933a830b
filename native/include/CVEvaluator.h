#ifndef OPENMM_VAE_CV_EVALUATOR_H_
#define OPENMM_VAE_CV_EVALUATOR_H_

#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * Evaluates a model's CV z(positions) and the gradient of a scalar function of z with respect to
 * the positions. Implementations: TorchScript with autograd (any model) and native code for the
 * bundle architecture. The kernels own the bias (energy and dE/dz), defined once for all of them.
 */
class CVEvaluator {
public:
    virtual ~CVEvaluator() {
    }
    /**
     * z (resized to L) of the selected atoms' positions, given as [numAtoms * 3] in nm. With
     * withGradient, keeps what backward() needs.
     */
    virtual void evaluate(const std::vector<double>& positions, std::vector<double>& z, bool withGradient) = 0;
    /** dE/dpositions ([numAtoms * 3]) from dE/dz, for the last evaluate(..., true). */
    virtual void backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) = 0;
    /** A short name for messages and tests ("torchscript", "native-single", "native-double"). */
    virtual std::string name() const = 0;
};

} // namespace VAEPlugin

#endif
