#include "internal/TorchScriptCVEvaluator.h"
#include "internal/BundleChecks.h"
#include "openmm/OpenMMException.h"

using namespace VAEPlugin;

TorchScriptCVEvaluator::TorchScriptCVEvaluator(torch::jit::Module module, int numAtoms, const std::string& source)
    : module(module), numAtoms(numAtoms), source(source) {
}

void TorchScriptCVEvaluator::evaluate(const std::vector<double>& positions, std::vector<double>& z, bool withGradient) {
    positionsTensor = torch::from_blob(const_cast<double*>(positions.data()), {numAtoms, 3}, torch::kFloat64).clone();
    positionsTensor.requires_grad_(withGradient);
    std::unique_ptr<torch::NoGradGuard> noGrad;
    if (!withGradient)
        noGrad.reset(new torch::NoGradGuard());
    latent = reportingBundleErrors([&] { return VAEModelBundle::evaluate(module, positionsTensor, source); }).to(torch::kFloat64);
    torch::Tensor values = latent.detach().contiguous();
    z.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

void TorchScriptCVEvaluator::backward(const std::vector<double>& dEdz, std::vector<double>& dEdPositions) {
    dEdPositions.assign(3 * numAtoms, 0.0);
    if (!latent.requires_grad())  // the CV does not depend on the positions
        return;
    torch::Tensor seed = torch::tensor(dEdz, torch::kFloat64);
    torch::Tensor gradient = torch::autograd::grad({latent}, {positionsTensor}, {seed}, false, false, true)[0];
    if (gradient.defined()) {
        gradient = gradient.contiguous();
        dEdPositions.assign(gradient.data_ptr<double>(), gradient.data_ptr<double>() + gradient.numel());
    }
}
