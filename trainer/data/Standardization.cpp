#include "Standardization.h"

#include <cmath>

namespace VAEPlugin {

Standardization Standardization::fit(const torch::Tensor& data, const std::vector<bool>& periodic) {
    Standardization s;
    auto d = data.to(torch::kCPU, torch::kFloat64);
    auto mean = d.mean(0), std = d.std(0, /*unbiased=*/false);
    for (int64_t i = 0; i < d.size(1); i++) {
        double m = mean[i].item<double>(), sd = std[i].item<double>();
        if (periodic[i]) {
            s.mean.push_back(0.0);
            s.scale.push_back(1.0);
        } else {
            s.mean.push_back(m);
            s.scale.push_back(sd > 1e-12 ? sd : 1.0);
        }
    }
    return s;
}

torch::Tensor Standardization::meanTensor() const {
    return torch::tensor(mean, torch::kFloat64);
}

torch::Tensor Standardization::scaleTensor() const {
    return torch::tensor(scale, torch::kFloat64);
}

torch::Tensor Standardization::apply(const torch::Tensor& x) const {
    return (x - meanTensor().to(x.options())) / scaleTensor().to(x.options());
}

double Standardization::logScaleSum() const {
    double s = 0.0;
    for (double v : scale) s += std::log(v);
    return s;
}

} // namespace VAEPlugin
