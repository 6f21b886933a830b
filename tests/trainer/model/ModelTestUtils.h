#ifndef OPENMM_VAE_MODEL_TEST_UTILS_H_
#define OPENMM_VAE_MODEL_TEST_UTILS_H_

// Small helpers shared by the model tests.
#include "ModelConfig.h"
#include "VAEModelBuilder.h"

#include <string>
#include <vector>
#include <torch/script.h>
#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

namespace VAEPlugin {
namespace test {

/**
 * Test-wide settings, applied before any test runs: one intra-op thread, and the plain (non-
 * optimising) graph executor, whose first calls are ~100x cheaper than the profiling executor's
 * (the numbers are the same; these tests call each method only a few times).
 */
inline const bool kTestSettings = [] {
    at::set_num_threads(1);
    torch::jit::setGraphExecutorOptimize(false);
    return true;
}();

inline ModelConfig makeConfig(const std::string& decoder, int numFeatures, int latent, int hidden,
                              std::vector<bool> periodic = {}) {
    ModelConfig c;
    c.decoder = *parseDecoderKind(decoder);
    c.numFeatures = numFeatures;
    c.latent = latent;
    c.hidden = hidden;
    c.periodic = std::move(periodic);
    return c;
}

/** Call a method and return its single tensor result. */
inline torch::Tensor call1(torch::jit::Module& m, const std::string& method, std::vector<c10::IValue> args) {
    return m.get_method(method)(std::move(args)).toTensor();
}

/** Call a method that returns a tuple of tensors. */
inline std::vector<torch::Tensor> callN(torch::jit::Module& m, const std::string& method,
                                        std::vector<c10::IValue> args) {
    auto tuple = m.get_method(method)(std::move(args)).toTuple();
    std::vector<torch::Tensor> out;
    for (const auto& e : tuple->elements())
        out.push_back(e.toTensor());
    return out;
}

/** A double-precision copy of a freshly built VAE. */
inline torch::jit::Module buildDouble(const ModelConfig& c, uint64_t seed) {
    torch::jit::Module m = buildVAE(c, seed);
    m.to(torch::kFloat64);
    return m;
}

/** Trapezoid weights for n points with spacing h. */
inline torch::Tensor trapezoid(int64_t n, double h) {
    torch::Tensor w = torch::full({n}, h, torch::kFloat64);
    w[0] = 0.5 * h;
    w[n - 1] = 0.5 * h;
    return w;
}

} // namespace test
} // namespace VAEPlugin

#endif
