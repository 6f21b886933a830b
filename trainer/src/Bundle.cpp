#include "Bundle.h"

#include <filesystem>
#include <stdexcept>
#include <unistd.h>

namespace VAEPlugin {

namespace {

const char* kCommonSource = R"TS(
def standardize(self, x: Tensor) -> Tensor:
    return (x - self.feature_mean) / self.feature_scale

def unstandardize(self, x: Tensor) -> Tensor:
    return x * self.feature_scale + self.feature_mean

def log_scale_sum(self) -> Tensor:
    return torch.sum(torch.log(self.feature_scale))

def encode(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    return self.model.encode(self.standardize(x))

def encoder_log_prob(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    return self.model.encoder_log_prob(z, mu, logvar)

def prior_forward(self, eps: Tensor) -> Tuple[Tensor, Tensor]:
    return self.model.prior_forward(eps)

def prior_inverse(self, z: Tensor) -> Tuple[Tensor, Tensor]:
    return self.model.prior_inverse(z)

def prior_log_prob(self, z: Tensor) -> Tensor:
    return self.model.prior_log_prob(z)

def prior_sample(self, eps: Tensor) -> Tensor:
    return self.model.prior_sample(eps)

def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    return self.model.decoder_log_prob(self.standardize(x), z) - self.log_scale_sum()

def decoder_sample(self, z: Tensor, noise: Tensor) -> Tensor:
    return self.unstandardize(self.model.decoder_sample(z, noise))

def check_positions(self, positions: Tensor):
    assert positions.dim() == 3 and positions.size(1) == self.num_atoms and positions.size(2) == 3, "VAE bundle: expected positions of shape [B, " + str(self.num_atoms) + ", 3], got " + str(positions.size())

def latent_mean(self, positions: Tensor) -> Tensor:
    features, log_jacobian = self.featurize(positions)
    mu, logvar = self.encode(features)
    return mu

def forward(self, positions: Tensor) -> Tensor:
    assert positions.dim() == 2, "VAE bundle: forward expects positions of shape [n, 3], got " + str(positions.size())
    return self.latent_mean(positions.unsqueeze(0)).squeeze(0)
)TS";

const char* kXYSource = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    features = positions[:, 0, 0:2]
    return features, torch.zeros([positions.size(0)], dtype=positions.dtype, device=positions.device)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    out = reference.clone()
    out[:, 0, 0] = features[:, 0]
    out[:, 0, 1] = features[:, 1]
    return out
)TS";

const char* kPolarSource = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    x = positions[:, 0, 0]
    y = positions[:, 0, 1]
    r = torch.sqrt(x * x + y * y)
    theta = torch.atan2(y, x)
    return torch.stack([r, theta], 1), torch.log(r)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    out = reference.clone()
    r = features[:, 0]
    theta = features[:, 1]
    out[:, 0, 0] = r * torch.cos(theta)
    out[:, 0, 1] = r * torch.sin(theta)
    return out
)TS";

const char* kPositionsSource = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    features = positions.reshape([positions.size(0), 3 * self.num_atoms])
    return features, torch.zeros([positions.size(0)], dtype=positions.dtype, device=positions.device)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    return features.reshape([features.size(0), self.num_atoms, 3]).to(reference.dtype)
)TS";

} // namespace

std::string bundleSource(const FeatureSpec& features) {
    std::string src = kCommonSource;
    if (features.kind == "xy")
        src += kXYSource;
    else if (features.kind == "polar")
        src += kPolarSource;
    else if (features.kind == "positions")
        src += kPositionsSource;
    else
        throw std::invalid_argument("bundle: unknown feature kind '" + features.kind + "'");
    return src;
}

torch::jit::Module makeBundle(const torch::jit::Module& model, const FeatureSpec& features,
                              const Standardization& standardization) {
    torch::jit::Module copy = model.deepcopy();
    copy.to(torch::kCPU);
    copy.to(torch::kFloat64);
    copy.eval();
    torch::jit::Module bundle("VAEBundle");
    bundle.register_module("model", copy);
    bundle.register_buffer("feature_mean", standardization.meanTensor());
    bundle.register_buffer("feature_scale", standardization.scaleTensor());
    bundle.register_attribute("num_atoms", c10::IntType::get(), static_cast<int64_t>(features.atoms.size()));
    bundle.register_attribute("num_features", c10::IntType::get(), static_cast<int64_t>(features.numFeatures()));
    bundle.register_attribute("latent", c10::IntType::get(), copy.attr("latent"));
    bundle.register_attribute("feature_kind", c10::StringType::get(), features.kind);
    bundle.define(bundleSource(features));
    bundle.eval();
    return bundle;
}

void saveBundle(const torch::jit::Module& bundle, const nlohmann::json& metadata, const std::string& path) {
    namespace fs = std::filesystem;
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    torch::jit::ExtraFilesMap extra{{"metadata.json", metadata.dump(2)}};
    try {
        bundle.save(tmp, extra);
        fs::rename(tmp, path);
    } catch (const std::exception& e) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw std::runtime_error("cannot write the model bundle " + path + ": " + e.what());
    }
}

nlohmann::json readBundleMetadata(const std::string& path) {
    torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
    torch::jit::load(path, torch::kCPU, extra);
    return nlohmann::json::parse(extra.at("metadata.json"));
}

} // namespace VAEPlugin
