#ifndef OPENMM_VAE_TESTS_METRICS_HELPERS_H_
#define OPENMM_VAE_TESTS_METRICS_HELPERS_H_

#include "BundleWriter.h"
#include "Dataset.h"
#include "Standardization.h"
#include "Systems.h"
#include "Training.h"
#include "VAEModelBuilder.h"

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
 * Chi-square of a 2-D histogram of independent samples in feature space against the exact density
 * exp(-U(x, y)) J(f), integrated numerically (midpoint rule, sub x sub points per bin) over the box.
 * Bins whose expected count is below 5 (and everything outside the box) are pooled into one bin.
 * Returns chi2 and sets dof.
 */
inline double chiSquare(const torch::Tensor& f, const std::function<double(double, double)>& logDensity, double a0,
                 double a1, int na, double b0, double b1, int nb, int* dof) {
    const int sub = 12;
    std::vector<double> expected(na * nb, 0.0);
    double total = 0;
    double da = (a1 - a0) / na, db = (b1 - b0) / nb;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) {
            double s = 0;
            for (int p = 0; p < sub; p++)
                for (int q = 0; q < sub; q++) {
                    double a = a0 + (i + (p + 0.5) / sub) * da, b = b0 + (j + (q + 0.5) / sub) * db;
                    double lp = logDensity(a, b);
                    if (std::isfinite(lp)) s += std::exp(lp);
                }
            expected[i * nb + j] = s;
            total += s;
        }
    const int64_t n = f.size(0);
    std::vector<double> observed(na * nb, 0.0);
    double outside = 0;
    auto acc = f.accessor<double, 2>();
    for (int64_t k = 0; k < n; k++) {
        int i = static_cast<int>(std::floor((acc[k][0] - a0) / da)), j = static_cast<int>(std::floor((acc[k][1] - b0) / db));
        if (i < 0 || i >= na || j < 0 || j >= nb)
            outside++;
        else
            observed[i * nb + j]++;
    }
    double chi2 = 0, poolE = 0, poolO = outside;
    int bins = 0;
    for (int k = 0; k < na * nb; k++) {
        double e = expected[k] / total * n;
        if (e < 5) {
            poolE += e;
            poolO += observed[k];
        } else {
            chi2 += (observed[k] - e) * (observed[k] - e) / e;
            bins++;
        }
    }
    if (poolE > 0 || poolO > 0) {
        chi2 += (poolO - poolE) * (poolO - poolE) / std::max(poolE, 1.0);
        bins++;
    }
    *dof = bins - 1;
    return chi2;
}

/** The chi-square check of the detailed-balance tests: chi2 below dof + 6 sigma (sigma = sqrt(2 dof)). */
inline bool passes(double chi2, int dof) { return chi2 < dof + 6.0 * std::sqrt(2.0 * dof); }

} // namespace testing_helpers
} // namespace VAEPlugin

#endif
