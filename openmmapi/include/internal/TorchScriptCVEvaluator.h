#ifndef OPENMM_VAE_TORCHSCRIPT_CV_EVALUATOR_H_
#define OPENMM_VAE_TORCHSCRIPT_CV_EVALUATOR_H_

#include "CVEvaluator.h"
#include <torch/script.h>
#include <torch/csrc/autograd/autograd.h>

namespace VAEPlugin {

/** Any TorchScript model's forward(positions) in double precision, gradients by autograd. */
class TorchScriptCVEvaluator : public CVEvaluator {
public:
    /** module: already in double precision; source names the model in messages. */
    TorchScriptCVEvaluator(torch::jit::Module module, int numAtoms, const std::string& source);
    void evaluate(const std::vector<double>& positions, std::vector<double>& z, bool withGradient) override;
    void backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) override;
    std::string name() const override {
        return "torchscript";
    }
private:
    torch::jit::Module module;
    int numAtoms;
    std::string source;
    torch::Tensor positionsTensor, latent;
};

} // namespace VAEPlugin

#endif
