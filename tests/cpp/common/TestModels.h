#ifndef OPENMM_VAE_TEST_MODELS_H_
#define OPENMM_VAE_TEST_MODELS_H_

// TorchScript models written by the tests themselves (LibTorch only): an analytic CV, a small
// random MLP and bad models, each returned as the bytes of a TorchScript archive.

#include <torch/script.h>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace VAETest {

/** Serialize a module, optionally with a metadata.json extra file. */
inline std::string archiveBytes(torch::jit::Module& module, const std::string& metadata = "") {
    std::ostringstream out;
    torch::jit::ExtraFilesMap extra;
    if (!metadata.empty())
        extra["metadata.json"] = metadata;
    module.save(out, extra);
    return out.str();
}

/**
 * Analytic CV on >= 3 atoms, L = 2: z0 = scale * |r1 - r0|, z1 = sum_i sin(x_i) * y_i + |r2 - r0|^2.
 * scale is a float32 parameter, so the double conversion is exercised.
 */
inline std::string analyticModel(const std::string& metadata = "") {
    torch::jit::Module m("AnalyticCV");
    m.register_parameter("scale", torch::tensor({1.5f}), false);
    m.define(R"(
def forward(self, positions):
    d01 = torch.sqrt(((positions[1] - positions[0]) ** 2).sum())
    d02sq = ((positions[2] - positions[0]) ** 2).sum()
    z0 = self.scale[0] * d01
    z1 = (torch.sin(positions[:, 0]) * positions[:, 1]).sum() + d02sq
    return torch.stack([z0, z1])
)");
    return archiveBytes(m, metadata);
}

/** A random MLP of the flattened positions: 3n -> 16 (tanh) -> L, float32 weights. */
inline std::string mlpModel(int numAtoms, int latent, int seed = 1, const std::string& metadata = "") {
    torch::manual_seed(seed);
    torch::jit::Module m("RandomMLP");
    m.register_parameter("w1", torch::randn({16, 3 * numAtoms}) * 0.5, false);
    m.register_parameter("b1", torch::randn({16}) * 0.1, false);
    m.register_parameter("w2", torch::randn({latent, 16}) * 0.5, false);
    m.register_parameter("b2", torch::randn({latent}) * 0.1, false);
    m.define(R"(
def forward(self, positions):
    h = torch.tanh(torch.matmul(self.w1, positions.reshape(-1)) + self.b1)
    return torch.matmul(self.w2, h) + self.b2
)");
    return archiveBytes(m, metadata);
}

/** A module whose forward body is the given TorchScript source (for bad-model tests). */
inline std::string customModel(const std::string& forwardBody) {
    torch::jit::Module m("Custom");
    m.define("def forward(self, positions):\n    " + forwardBody + "\n");
    return archiveBytes(m);
}

/** Metadata JSON of a bundle with the given atoms and latent size. */
inline std::string metadataFor(const std::vector<int>& atoms, int latent) {
    nlohmann::json j;
    j["format_version"] = 1;
    j["atoms"] = atoms;
    j["latent"] = latent;
    return j.dump();
}

} // namespace VAETest

#endif
