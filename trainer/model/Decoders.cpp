// The output distribution shared by all decoders (independent Gaussians / von Mises) and the four
// decoders of science.md section 1: mse, condind, autoregressive, flow.
#include "ModelParts.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace VAEPlugin {
namespace model_detail {

using namespace BundleSchema;

namespace {

// Per feature i: loc_i, logvar_i; per periodic feature also s (second location component).
// Gaussian: N(loc, exp(logvar)); von Mises: mean atan2(s, loc), kappa = exp(-max(logvar, -15)).
// The Gaussian log-variance is clamped at -15 too (documented deviation, VAEModelBuilder.h).
// Constants are substituted by the builder: @D_LN2PI@ = 0.5 ln(2 pi) * (#non-periodic),
// @P_LN2PI@ = ln(2 pi) * (#periodic), @FLOAT64@ = the dtype code of torch.float64 (C++-defined
// TorchScript has no Python resolver for torch.float64).
const char* kDistSource = R"JIT(
def wrap(self, x: Tensor) -> Tensor:
    if self.num_periodic == 0:
        return x
    w = torch.remainder(x + 3.141592653589793, 6.283185307179586) - 3.141592653589793
    return torch.where(self.periodic_mask > 0.5, w, x)

def log_prob_unit_variance(self, x: Tensor, loc: Tensor, s: Tensor) -> Tensor:
    if self.num_periodic == 0:
        d = x - loc
        return -0.5 * torch.sum(d * d, 1) - @D_LN2PI@
    return self.log_prob(x, loc, s, torch.zeros_like(loc))

def log_prob(self, x: Tensor, loc: Tensor, s: Tensor, logvar: Tensor) -> Tensor:
    lv = torch.clamp(logvar, min=-15.0)
    if self.num_periodic == 0:
        d = x - loc
        return -0.5 * torch.sum(d * d * torch.exp(-lv) + lv, 1) - @D_LN2PI@
    per = self.periodic_index.to(x.device)
    kappa = torch.exp(-lv.index_select(1, per))
    mean = torch.atan2(s, loc.index_select(1, per))
    lp = torch.sum(kappa * (torch.cos(x.index_select(1, per) - mean) - 1.0)
                   - torch.log(torch.special_i0e(kappa)), 1) - @P_LN2PI@
    if self.num_periodic < self.num_features:
        non = self.nonperiodic_index.to(x.device)
        lvn = lv.index_select(1, non)
        d = x.index_select(1, non) - loc.index_select(1, non)
        lp = lp - 0.5 * torch.sum(d * d * torch.exp(-lvn) + lvn, 1) - @D_LN2PI@
    return lp

def sample(self, noise: Tensor, loc: Tensor, s: Tensor, logvar: Tensor) -> Tensor:
    x = self.gaussian(noise, loc, logvar)
    if self.num_periodic == 0:
        return x
    per = self.periodic_index.to(x.device)
    angle = self.von_mises_params(noise.index_select(1, per), loc.index_select(1, per), s,
                                  logvar.index_select(1, per))
    return torch.index_copy(x, 1, per, angle)

def sample_column(self, periodic: bool, noise: Tensor, loc: Tensor, s: Tensor, logvar: Tensor) -> Tensor:
    # one feature ([B, 1] each), as sample() draws it
    if periodic:
        return self.von_mises_params(noise, loc, s, logvar)
    return self.gaussian(noise, loc, logvar)

def gaussian(self, noise: Tensor, loc: Tensor, logvar: Tensor) -> Tensor:
    lv = torch.clamp(logvar, min=-15.0)
    return loc + torch.exp(0.5 * lv) * (1.4142135623730951 * torch.erfinv(2.0 * noise - 1.0))

def von_mises_params(self, u_sign: Tensor, loc: Tensor, s: Tensor, logvar: Tensor) -> Tensor:
    kappa = torch.exp(-torch.clamp(logvar, min=-15.0))
    return self.von_mises(torch.atan2(s, loc), kappa, u_sign)

def von_mises(self, mean: Tensor, kappa: Tensor, u_sign: Tensor) -> Tensor:
    # Best & Fisher (1979) rejection sampler in float64; rho in a cancellation-free form.
    # kappa < 1e-12 is raised to 1e-12 (indistinguishable from uniform in double precision).
    k = torch.clamp(kappa.detach().to(@FLOAT64@), min=1e-12)
    q = torch.sqrt(1.0 + 4.0 * k * k)
    tau = 1.0 + q
    rho = 2.0 * k * tau / ((q + 1.0) * (tau + torch.sqrt(2.0 * tau)))
    r = (1.0 + rho * rho) / (2.0 * rho)
    # a non-finite concentration (NaN input) is "done" at once and yields NaN: never loop forever
    done = torch.logical_not(torch.isfinite(k))
    f = torch.where(done, k, torch.zeros_like(k))
    while not bool(done.all()):
        u1 = torch.rand_like(k)
        u2 = torch.rand_like(k)
        zc = torch.cos(3.141592653589793 * u1)
        ff = (1.0 + r * zc) / (r + zc)
        c = k * (r - ff)
        accept = ((c * (2.0 - c) - u2) > 0.0) | ((torch.log(c / u2) + 1.0 - c) >= 0.0)
        f = torch.where(accept & torch.logical_not(done), ff, f)
        done = done | accept
    theta = torch.acos(torch.clamp(f, -1.0, 1.0))
    theta = torch.where(u_sign.detach().to(@FLOAT64@) > 0.5, theta, -theta)
    a = mean.detach().to(@FLOAT64@) + theta
    a = torch.remainder(a + 3.141592653589793, 6.283185307179586) - 3.141592653589793
    return a.to(mean.dtype)
)JIT";

// Base network of z: tanh hidden layers -> head of size D + P (mse) or 2D + P.
std::string baseSource(int hiddenLayers, bool fixedVariance) {
    std::string src = "def base_out(self, z: Tensor) -> Tensor:\n"
                      "    h = torch.tanh(torch.addmm(self.hidden1_bias, z, self.hidden1_weight.t()))\n";
    if (hiddenLayers == 2)
        src += "    h = torch.tanh(torch.addmm(self.hidden2_bias, h, self.hidden2_weight.t()))\n";
    src += "    return torch.addmm(self.out_bias, h, self.out_weight.t())\n\n";
    src += "def split_params(self, out: Tensor) -> Tuple[Tensor, Tensor, Tensor]:\n"
           "    nf = self.num_features\n"
           "    loc = out[:, :nf]\n"
           "    s = out[:, nf:nf + self.num_periodic]\n";
    if (fixedVariance)
        src += "    logvar = torch.zeros_like(loc)\n";
    else
        src += "    logvar = out[:, nf + self.num_periodic:]\n";
    src += "    return loc, s, logvar\n\n"
           "def params(self, z: Tensor) -> Tuple[Tensor, Tensor, Tensor]:\n"
           "    return self.split_params(self.base_out(z))\n\n";
    return src;
}

const char* kIndependentSource = R"JIT(
def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    if self.fixed_variance:
        out = self.base_out(z)
        nf = self.num_features
        return self.dist.log_prob_unit_variance(x, out[:, :nf], out[:, nf:])
    loc, s, logvar = self.params(z)
    return self.dist.log_prob(x, loc, s, logvar)

def sample(self, z: Tensor, noise: Tensor) -> Tensor:
    loc, s, logvar = self.params(z)
    return self.dist.sample(noise, loc, s, logvar)
)JIT";

// MADE shifts added to the base head; z skips into both masked layers. Periodic inputs are wrapped.
const char* kAutoregressiveSource = R"JIT(
def made_out(self, x: Tensor, z: Tensor) -> Tensor:
    h = torch.tanh(torch.addmm(torch.addmm(self.made_hidden_bias, z, self.made_hidden_skip_weight.t()),
                               x, (self.made_hidden_weight * self.made_hidden_mask).t()))
    return torch.addmm(torch.addmm(self.made_out_bias, z, self.made_out_skip_weight.t()),
                       h, (self.made_out_weight * self.made_out_mask).t())

def conditional_params(self, x: Tensor, z: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    return self.split_params(self.base_out(z) + self.made_out(self.dist.wrap(x), z))

def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    loc, s, logvar = self.conditional_params(x, z)
    return self.dist.log_prob(x, loc, s, logvar)

def sample(self, z: Tensor, noise: Tensor) -> Tensor:
    # Feature by feature in MADE order, each hidden unit's tanh computed once: hidden degrees ascend,
    # the units of degree i see only features < i (so they are final when feature i is drawn) and
    # feature i's outputs (loc, s, logvar: its columns in feature_param_index) see only units of
    # degree <= i. O(D H + H D_out) per row instead of the O(D^2 H) of D full passes.
    nf = self.num_features
    start: List[int] = self.made_hidden_group_start.tolist()
    cols = self.feature_param_index.to(z.device)
    w1 = (self.made_hidden_weight * self.made_hidden_mask).t()
    w2 = (self.made_out_weight * self.made_out_mask).index_select(0, cols).t()
    out = (self.base_out(z) + torch.addmm(self.made_out_bias, z, self.made_out_skip_weight.t())).index_select(1, cols)
    pre = torch.addmm(self.made_hidden_bias, z, self.made_hidden_skip_weight.t())
    periodic: List[float] = self.dist.periodic_mask.tolist()
    drawn: List[Tensor] = []
    for i in range(nf):
        a = start[i]
        b = start[i + 1]
        if b > a:
            h = pre[:, a:b]
            if i > 0:
                h = torch.addmm(h, torch.cat(drawn, 1), w1[:i, a:b])
            out = torch.addmm(out, torch.tanh(h), w2[a:b])
        xi = self.dist.sample_column(periodic[i] > 0.5, noise[:, i:i + 1], out[:, 3 * i:3 * i + 1],
                                     out[:, 3 * i + 1:3 * i + 2], out[:, 3 * i + 2:3 * i + 3])
        drawn.append(xi)
    return torch.cat(drawn, 1)
)JIT";

// Base distribution of u from z, then the MAF blocks (flow) in the spline domain.
const char* kFlowSource = R"JIT(
def to_domain(self, x: Tensor) -> Tensor:
    return self.dist.wrap(x) * self.domain_scale

def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    u, ld = self.flow.inverse(self.to_domain(x), z)
    loc, s, logvar = self.params(z)
    return self.dist.log_prob(u / self.domain_scale, loc, s, logvar) + ld

def sample(self, z: Tensor, noise: Tensor) -> Tensor:
    loc, s, logvar = self.params(z)
    u = self.dist.sample(noise, loc, s, logvar)
    y, ld = self.flow.forward(self.to_domain(u), z)
    return y / self.domain_scale
)JIT";

void addMADE(Builder& b, torch::jit::Module& m, int64_t numFeatures, int64_t latent, int64_t hidden,
             const std::vector<int64_t>& outDeg) {
    std::vector<int64_t> inDeg(numFeatures);
    for (int64_t i = 0; i < numFeatures; ++i)
        inDeg[i] = i + 1;
    std::vector<int64_t> hDeg = madeHiddenDegrees(numFeatures, hidden);
    addLinear(m, Model::kMadeHidden, numFeatures, hidden, b.init);
    addLinear(m, Model::kMadeHiddenSkip, latent, hidden, b.init, false);
    addLinear(m, Model::kMadeOut, hidden, outDeg.size(), b.init);
    addLinear(m, Model::kMadeOutSkip, latent, outDeg.size(), b.init, false);
    m.register_buffer(Model::kMadeHiddenMask, madeMask(inDeg, hDeg, false));
    m.register_buffer(Model::kMadeOutMask, madeMask(hDeg, outDeg, true));
}

} // namespace

torch::jit::Module buildDist(Builder& b, const ModelConfig& config) {
    std::vector<int64_t> per, non;
    splitPeriodic(config, per, non);
    torch::jit::Module m = b.newModule("IndependentDist");
    addIntAttr(m, Model::kNumFeatures, config.numFeatures);
    addIntAttr(m, Model::kNumPeriodic, per.size());
    addIndexAttr(m, Model::kPeriodicIndex, per);
    addIndexAttr(m, Model::kNonPeriodicIndex, non);
    torch::Tensor mask = torch::zeros({config.numFeatures}, torch::kFloat32);
    for (int64_t i : per)
        mask[i] = 1.0f;
    m.register_buffer("periodic_mask", mask);
    std::string src = kDistSource;
    replaceAll(src, "@D_LN2PI@", lit(0.5 * std::log(2.0 * M_PI) * non.size()));
    replaceAll(src, "@P_LN2PI@", lit(std::log(2.0 * M_PI) * per.size()));
    replaceAll(src, "@FLOAT64@", std::to_string(static_cast<int>(at::kDouble)));
    m.define(src);
    return m;
}

torch::jit::Module buildDecoder(Builder& b, const ModelConfig& config) {
    std::vector<int64_t> per, non;
    splitPeriodic(config, per, non);
    const int64_t D = config.numFeatures, P = per.size(), L = config.latent, H = config.hidden;
    const DecoderKind kind = config.decoder;
    const bool fixedVariance = kind == DecoderKind::Mse;
    const int hiddenLayers = kind == DecoderKind::Flow ? 1 : 2;
    const int64_t nOut = fixedVariance ? D + P : 2 * D + P;

    const char* className = "";
    switch (kind) {
    case DecoderKind::Mse: className = "MSEDecoder"; break;
    case DecoderKind::Condind: className = "CondIndDecoder"; break;
    case DecoderKind::Autoregressive: className = "AutoregressiveDecoder"; break;
    case DecoderKind::Flow: className = "FlowDecoder"; break;
    }
    torch::jit::Module m = b.newModule(className);
    addIntAttr(m, Model::kNumFeatures, D);
    addIntAttr(m, Model::kNumPeriodic, P);
    addBoolAttr(m, Model::kFixedVariance, fixedVariance);
    addLinear(m, Model::kHidden1, L, H, b.init);
    if (hiddenLayers == 2)
        addLinear(m, Model::kHidden2, H, H, b.init);
    addLinear(m, Model::kOut, H, nOut, b.init);
    m.register_module(Model::kDist, buildDist(b, config));
    std::string src = baseSource(hiddenLayers, fixedVariance);
    if (kind == DecoderKind::Mse || kind == DecoderKind::Condind) {
        src += kIndependentSource;
    } else if (kind == DecoderKind::Autoregressive) {
        // output layout [loc (D), s (P), logvar (D)]; each output has its feature's degree
        std::vector<int64_t> outDeg;
        for (int64_t i = 0; i < D; ++i)
            outDeg.push_back(i + 1);
        for (int64_t i : per)
            outDeg.push_back(i + 1);
        for (int64_t i = 0; i < D; ++i)
            outDeg.push_back(i + 1);
        addMADE(b, m, D, L, H, outDeg);
        // per feature: its loc, s (loc again where not periodic) and logvar columns, for sample()
        std::vector<int64_t> cols;
        for (int64_t i = 0; i < D; ++i) {
            auto k = std::find(per.begin(), per.end(), i);
            cols.insert(cols.end(), {i, k == per.end() ? i : D + (k - per.begin()), D + P + i});
        }
        addIndexAttr(m, "feature_param_index", cols);
        // hidden units of degree i are [start[i], start[i + 1]); sample() needs the degrees ascending
        std::vector<int64_t> hDeg = madeHiddenDegrees(D, H), start(D + 1, H);
        if (!std::is_sorted(hDeg.begin(), hDeg.end()))
            throw std::logic_error("MADE hidden degrees must ascend");
        for (int64_t i = D; i-- > 0;)
            start[i] = std::lower_bound(hDeg.begin(), hDeg.end(), i) - hDeg.begin();
        addIndexAttr(m, "made_hidden_group_start", start);
        src += kAutoregressiveSource;
    } else {
        std::vector<torch::jit::Module> blocks;
        for (int k = 0; k < config.decoderFlowBlocks; ++k)
            blocks.push_back(buildMAFBlock(b, D, L, H, config.splineBins, k % 2 == 1));
        m.register_module(Model::kFlow, composeFlow(b, "DecoderFlow", blocks, true, D));
        torch::Tensor scale = torch::full({D}, static_cast<float>(2.0 * M_PI / 20.0), torch::kFloat32);
        for (int64_t i : per)
            scale[i] = 1.0f;
        m.register_buffer("domain_scale", scale);
        src += kFlowSource;
    }
    m.define(src);
    return m;
}

} // namespace model_detail
} // namespace VAEPlugin
