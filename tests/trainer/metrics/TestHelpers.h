#ifndef OPENMM_VAE_TESTS_METRICS_HELPERS_H_
#define OPENMM_VAE_TESTS_METRICS_HELPERS_H_

#include "BundleWriter.h"
#include "Dataset.h"
#include "Standardization.h"
#include "Systems.h"
#include "Training.h"
#include "VAEModelBuilder.h"

#include "../../cpp/common/ChiSquare.h"  // the one chi-square of the exactness checks

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace VAEPlugin {
namespace testing_helpers {

inline int setUpThreads() {
    at::set_num_threads(1);
    configureJit();
    return 0;
}

/** A deliberately poor bundle: a few hundred Adam steps (float32, beta = 1) on `data` (raw features). */
inline torch::jit::Module poorBundle(FeatureKind kind, const torch::Tensor& data, int steps, uint64_t seed,
                                     int latent = 1, const std::string& decoder = "condind") {
    int D = static_cast<int>(data.size(1));
    FeatureSpec spec = FeatureSpec::make(kind, D, kind == FeatureKind::Polar ? std::vector<int>{1} : std::vector<int>{}, {});
    Standardization st = Standardization::fit(data, spec.periodic);
    ModelConfig c;
    c.numFeatures = D;
    c.periodic = spec.periodic;
    c.latent = latent;
    c.hidden = 20;
    c.flowHidden = 10;
    c.decoder = *parseDecoderKind(decoder);
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
    return makeBundle(model, spec, st.mean, st.scale);
}

/**
 * Chi-square of a 2-D histogram of independent samples in feature space (rows of f [N, 2]) against the
 * exact density exp(logDensity) (VAETest::chiSquare of tests/cpp/common/ChiSquare.h). Returns chi2, sets dof.
 */
inline double chiSquare(const torch::Tensor& f, const std::function<double(double, double)>& logDensity, double a0,
                        double a1, int na, double b0, double b1, int nb, int* dof) {
    auto acc = f.accessor<double, 2>();
    std::vector<std::pair<double, double>> samples;
    for (int64_t k = 0; k < f.size(0); k++)
        samples.push_back({acc[k][0], acc[k][1]});
    return VAETest::chiSquare(samples, logDensity, a0, a1, na, b0, b1, nb, dof);
}

/** The chi-square check of the detailed-balance tests: chi2 below dof + 6 sigma (sigma = sqrt(2 dof)). */
inline bool passes(double chi2, int dof) { return chi2 < dof + 6.0 * std::sqrt(2.0 * dof); }

} // namespace testing_helpers
} // namespace VAEPlugin

#endif
