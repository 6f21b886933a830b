// buildVAE: the encoder, the prior and a decoder assembled into one TorchScript module.
#include "VAEModelBuilder.h"
#include "ModelParts.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace VAEPlugin {
namespace model_detail {

using namespace BundleSchema;

namespace {

const char* kEncoderSource = R"JIT(
def features(self, x: Tensor) -> Tensor:
    if self.num_periodic == 0:
        return x
    xp = x.index_select(1, self.periodic_index.to(x.device))
    if self.num_periodic == self.num_features:
        return torch.cat([torch.cos(xp), torch.sin(xp)], 1)
    xn = x.index_select(1, self.nonperiodic_index.to(x.device))
    return torch.cat([xn, torch.cos(xp), torch.sin(xp)], 1)

def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    h = torch.relu(torch.addmm(self.hidden1_bias, self.features(x), self.hidden1_weight.t()))
    h = torch.relu(torch.addmm(self.hidden2_bias, h, self.hidden2_weight.t()))
    return (torch.addmm(self.mean_bias, h, self.mean_weight.t()),
            torch.addmm(self.logvar_bias, h, self.logvar_weight.t()))
)JIT";

// @L_LN2PI@ = 0.5 L ln(2 pi)
const char* kVAESource = R"JIT(
def encode(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    return self.encoder.forward(x)

def encoder_log_prob(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    d = z - mu
    return -0.5 * torch.sum(d * d * torch.exp(-logvar) + logvar, 1) - @L_LN2PI@

def prior_forward(self, eps: Tensor) -> Tuple[Tensor, Tensor]:
    return self.prior.forward(eps)

def prior_inverse(self, z: Tensor) -> Tuple[Tensor, Tensor]:
    return self.prior.inverse(z)

def prior_log_prob(self, z: Tensor) -> Tensor:
    return self.prior.log_prob(z)

def prior_sample(self, eps: Tensor) -> Tensor:
    return self.prior.sample(eps)

def decoder_log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    return self.decoder.log_prob(x, z)

def decoder_sample(self, z: Tensor, noise: Tensor) -> Tensor:
    return self.decoder.sample(z, noise)

def loss(self, x: Tensor, beta: float) -> Tuple[Tensor, Tensor, Tensor]:
    mu, logvar = self.encoder.forward(x)
    eps = torch.randn_like(mu)
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = -self.decoder.log_prob(x, z)
    # ln q(z|x) written with eps: exact, and finite for any logvar
    log_q = -0.5 * torch.sum(eps * eps + logvar, 1) - @L_LN2PI@
    kl = log_q - self.prior.log_prob(z)
    recon_mean = torch.mean(recon)
    if beta == 0.0:
        return recon_mean, recon_mean, torch.mean(kl.detach())
    kl_mean = torch.mean(kl)
    return recon_mean + beta * kl_mean, recon_mean, kl_mean

def prior_fit_loss(self, x: Tensor) -> Tensor:
    mu, logvar = self.encoder.forward(x)
    z = mu.detach() + torch.exp(0.5 * logvar.detach()) * torch.randn_like(mu)
    return -torch.mean(self.prior.log_prob(z))
)JIT";

} // namespace

torch::jit::Module buildEncoder(Builder& b, const ModelConfig& config) {
    std::vector<int64_t> per, non;
    splitPeriodic(config, per, non);
    torch::jit::Module m = b.newModule("Encoder");
    const int64_t inputs = config.numFeatures + per.size();
    addLinear(m, Model::kHidden1, inputs, config.hidden, b.init);
    addLinear(m, Model::kHidden2, config.hidden, config.hidden, b.init);
    addLinear(m, Model::kMean, config.hidden, config.latent, b.init);
    addLinear(m, Model::kLogVar, config.hidden, config.latent, b.init);
    addIntAttr(m, Model::kNumFeatures, config.numFeatures);
    addIntAttr(m, Model::kNumPeriodic, per.size());
    addIndexAttr(m, Model::kPeriodicIndex, per);
    addIndexAttr(m, Model::kNonPeriodicIndex, non);
    m.define(kEncoderSource);
    return m;
}

} // namespace model_detail

namespace {

void validate(const ModelConfig& c) {
    auto fail = [](const std::string& what) { throw std::invalid_argument("buildVAE: " + what); };
    const std::pair<const char*, int> sizes[] = {{"numFeatures", c.numFeatures}, {"latent", c.latent}, {"hidden", c.hidden},
                                                 {"flowHidden", c.flowHidden}, {"priorBlocks", c.priorBlocks},
                                                 {"decoderFlowBlocks", c.decoderFlowBlocks}};
    for (const auto& [name, value] : sizes)
        if (value < 1) fail(std::string(name) + " must be >= 1, got " + std::to_string(value));
    if (c.splineBins < 2)
        fail("splineBins must be >= 2, got " + std::to_string(c.splineBins));
    if (!c.periodic.empty() && static_cast<int>(c.periodic.size()) != c.numFeatures)
        fail("periodic has " + std::to_string(c.periodic.size()) + " flags, expected numFeatures = " +
             std::to_string(c.numFeatures));
    if (c.mixtureComponents < 1)
        fail("mixtureComponents must be >= 1, got " + std::to_string(c.mixtureComponents));
    if (c.mixtureComponents > 1 && c.decoder != DecoderKind::Autoregressive)
        fail("mixtureComponents = " + std::to_string(c.mixtureComponents) + " needs the autoregressive decoder, got " +
             decoderKindName(c.decoder));
    if (!c.multiplicity.empty() && static_cast<int>(c.multiplicity.size()) != c.numFeatures)
        fail("multiplicity has " + std::to_string(c.multiplicity.size()) + " entries, expected numFeatures = " +
             std::to_string(c.numFeatures));
    for (size_t i = 0; i < c.multiplicity.size(); ++i) {
        const bool periodic = !c.periodic.empty() && c.periodic[i];
        if (c.multiplicity[i] < 1 || (!periodic && c.multiplicity[i] != 1))
            fail("multiplicity[" + std::to_string(i) + "] = " + std::to_string(c.multiplicity[i]) +
                 (periodic ? " must be >= 1" : " must be 1: feature " + std::to_string(i) + " is not periodic"));
    }
    if (c.splineBins * 0.01 >= 2.0 * M_PI)
        fail("splineBins = " + std::to_string(c.splineBins) + " too large for the minimum bin size 0.01");
}

} // namespace

torch::jit::Module buildVAE(const ModelConfig& config, uint64_t seed) {
    using namespace model_detail;
    using namespace BundleSchema;
    validate(config);
    Builder b(seed);
    // Build order fixes the order of the random draws: encoder, prior, decoder.
    torch::jit::Module encoder = buildEncoder(b, config);
    torch::jit::Module prior = buildPrior(b, config);
    torch::jit::Module decoder = buildDecoder(b, config);

    torch::jit::Module m = b.newModule("VAE");
    m.register_module(Model::kEncoder, encoder);
    m.register_module(Model::kPrior, prior);
    m.register_module(Model::kDecoder, decoder);
    addIntAttr(m, Model::kLatent, config.latent);
    addIntAttr(m, Model::kNumFeatures, config.numFeatures);
    addIntAttr(m, Model::kHidden, config.hidden);
    addIntAttr(m, Model::kFlowHidden, config.flowHidden);
    m.register_attribute(Model::kDecoderKind, c10::StringType::get(), std::string(decoderKindName(config.decoder)));
    c10::List<bool> periodic;
    for (int i = 0; i < config.numFeatures; ++i)
        periodic.push_back(!config.periodic.empty() && config.periodic[i]);
    m.register_attribute(Model::kPeriodic, c10::ListType::create(c10::BoolType::get()), periodic);
    std::string src = kVAESource;
    replaceAll(src, "@L_LN2PI@", lit(0.5 * config.latent * std::log(2.0 * M_PI)));
    m.define(src);
    return m;
}

} // namespace VAEPlugin
