#ifndef OPENMM_VAE_TRAINER_DATA_STANDARDIZATION_H_
#define OPENMM_VAE_TRAINER_DATA_STANDARDIZATION_H_

#include <torch/torch.h>

#include <vector>

namespace VAEPlugin {

/**
 * Per-feature affine standardisation x_std = (x - mean) / scale; periodic features are left alone.
 * The model trains on standardised features; the bundle stores mean and scale (BundleWriter.h).
 */
struct Standardization {
    std::vector<double> mean, scale;
    /** Mean and standard deviation of each non-periodic column of data ([n, D]). */
    static Standardization fit(const torch::Tensor& data, const std::vector<bool>& periodic);
    torch::Tensor meanTensor() const;
    torch::Tensor scaleTensor() const;
    torch::Tensor apply(const torch::Tensor& x) const;
    /** sum_i ln scale_i: ln P_raw(x) = ln P_std(x_std) - logScaleSum(). */
    double logScaleSum() const;
};

} // namespace VAEPlugin

#endif
