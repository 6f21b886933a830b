#ifndef OPENMM_VAE_TESTS_METRICS_HELPERS_H_
#define OPENMM_VAE_TESTS_METRICS_HELPERS_H_

#include "Bundle.h"
#include "Dataset.h"
#include "Systems.h"
#include "Training.h"
#include "VAEModelBuilder.h"

#include <torch/torch.h>

#include <string>

namespace VAEPlugin {
namespace testing_helpers {

inline int setUpThreads() {
    at::set_num_threads(1);
    configureJit();
    return 0;
}

/** A deliberately poor bundle: a few hundred Adam steps (float32, beta = 1) on `data` (raw features). */
inline torch::jit::Module poorBundle(const std::string& kind, const torch::Tensor& data, int steps, uint64_t seed,
                                     int latent = 1, const std::string& decoder = "condind") {
    int D = static_cast<int>(data.size(1));
    FeatureSpec spec = FeatureSpec::make(kind, D, kind == "polar" ? std::vector<int>{1} : std::vector<int>{}, {});
    Standardization st = Standardization::fit(data, spec.periodic);
    ModelConfig c;
    c.numFeatures = D;
    c.periodic = spec.periodic;
    c.latent = latent;
    c.hidden = 20;
    c.flowHidden = 10;
    c.decoder = decoder;
    c.splineBins = 8;
    torch::jit::Module model = buildVAE(c, seed);
    if (steps > 0) {
        torch::manual_seed(seed);
        std::vector<torch::Tensor> params;
        for (const auto& p : model.parameters()) params.push_back(p);
        torch::optim::Adam opt(params, torch::optim::AdamOptions(3e-3));
        torch::Tensor xs = st.apply(data).to(torch::kFloat32);
        auto gen = at::detail::createCPUGenerator(seed);
        for (int s = 0; s < steps; s++) {
            torch::Tensor idx = torch::randint(data.size(0), {200}, gen, torch::kLong);
            auto out = model.get_method("loss")({xs.index_select(0, idx), 1.0}).toTuple();
            opt.zero_grad();
            out->elements()[0].toTensor().backward();
            opt.step();
        }
    }
    return makeBundle(model, spec, st);
}

} // namespace testing_helpers
} // namespace VAEPlugin

#endif
