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
// A periodic feature of rotor multiplicity m has the density of u = wrap(m x) (spec section 3).
// Sampling noise is [B, n] or [B, n, S] "slots" per feature (spec section 5): 0 Gaussian inverse CDF
// / von Mises sign, 1 mixture component, 2 rotor branch, 3 + 2t and 4 + 2t the t-th Best-Fisher
// try; a slot the tensor lacks is drawn with torch.rand.
// Constants are substituted by the builder: @D_LN2PI@ = 0.5 ln(2 pi) * (#non-periodic),
// @FLOAT64@ = the dtype code of torch.float64 (C++-defined TorchScript has no Python resolver for
// torch.float64).
const char* kDistSource = R"JIT(
def wrap_angle(self, a: Tensor) -> Tensor:
    return torch.remainder(a + 3.141592653589793, 6.283185307179586) - 3.141592653589793

def scale_rotor(self, x: Tensor) -> Tensor:
    # m x (non-periodic features have m = 1); the densities need only cos and sin of it
    if self.has_rotor:
        return x * self.rotor_factor
    return x

def to_rotor(self, x: Tensor) -> Tensor:
    # u = wrap(m x) for the periodic features, x for the others
    if self.num_periodic == 0:
        return x
    return torch.where(self.periodic_mask > 0.5, self.wrap_angle(self.scale_rotor(x)), x)

def rotor_branch(self, u: Tensor, v: Tensor, m: Tensor) -> Tensor:
    # x = wrap((u + 2 pi k) / m) with k = min(floor(m v), m - 1): x uniform over the m branches
    k = torch.minimum(torch.floor(m * v.to(u.dtype)), m - 1.0)
    return self.wrap_angle((u + 6.283185307179586 * k) / m)

def rotor(self, u: Tensor, noise: Tensor) -> Tensor:
    # all features [B, D]: the rotor branch (slot 2) of those with m > 1
    if not self.has_rotor:
        return u
    m = self.rotor_factor
    return torch.where(m > 1.5, self.rotor_branch(u, self.slot(noise, 2), m), u)

def slot(self, nz: Tensor, s: int) -> Tensor:
    # slot s of the noise of some features ([B, n] or [B, n, S]) -> [B, n]
    if nz.dim() == 3:
        if s < nz.size(2):
            return nz.select(2, s)
        return torch.rand([nz.size(0), nz.size(1)], dtype=nz.dtype, device=nz.device)
    if s == 0:
        return nz
    return torch.rand_like(nz)

def tries(self, nz: Tensor) -> Tensor:
    # the Best-Fisher try uniforms (u1, u2 of try t at 2t, 2t + 1) the noise has: [B, n, 2T], float64
    if nz.dim() == 3 and nz.size(2) >= 5:
        t = (nz.size(2) - 3) // 2
        return nz[:, :, 3:3 + 2 * t].to(@FLOAT64@)
    return torch.zeros([nz.size(0), nz.size(1), 0], dtype=@FLOAT64@, device=nz.device)

def gaussian_terms(self, x: Tensor, loc: Tensor, logvar: Tensor) -> Tensor:
    lv = torch.clamp(logvar, min=-15.0)
    d = x - loc
    return -0.5 * (d * d * torch.exp(-lv) + lv) - 0.9189385332046727

def von_mises_terms(self, u: Tensor, mean: Tensor, kappa: Tensor) -> Tensor:
    return kappa * (torch.cos(u - mean) - 1.0) - torch.log(torch.special_i0e(kappa)) - 1.8378770664093453

def mixture_log_prob(self, u: Tensor, p: Tensor) -> Tensor:
    # u [..., 1], p [..., 4, K] = (logits, c, s, logvar): ln sum_k w_k VM(u; atan2(s_k, c_k), kappa_k)
    mean = torch.atan2(p.select(-2, 2), p.select(-2, 1))
    kappa = torch.exp(-torch.clamp(p.select(-2, 3), min=-15.0))
    terms = self.von_mises_terms(u, mean, kappa)
    if p.size(-1) == 1:
        return terms.squeeze(-1)
    return torch.logsumexp(torch.log_softmax(p.select(-2, 0), -1) + terms, -1)

def log_prob_unit_variance(self, x: Tensor, loc: Tensor, s: Tensor) -> Tensor:
    if self.num_periodic == 0:
        d = x - loc
        return -0.5 * torch.sum(d * d, 1) - @D_LN2PI@
    return self.log_prob(x, loc, s, torch.zeros_like(loc))

def log_prob(self, x: Tensor, loc: Tensor, s: Tensor, logvar: Tensor) -> Tensor:
    # density of u: periodic features are the rotor angles u (any branch)
    if self.num_periodic == 0:
        return torch.sum(self.gaussian_terms(x, loc, logvar), 1)
    per = self.periodic_index.to(x.device)
    kappa = torch.exp(-torch.clamp(logvar.index_select(1, per), min=-15.0))
    mean = torch.atan2(s, loc.index_select(1, per))
    lp = torch.sum(self.von_mises_terms(x.index_select(1, per), mean, kappa), 1)
    if self.num_periodic < self.num_features:
        non = self.nonperiodic_index.to(x.device)
        lp = lp + torch.sum(self.gaussian_terms(x.index_select(1, non), loc.index_select(1, non),
                                                logvar.index_select(1, non)), 1)
    return lp

def sample(self, noise: Tensor, loc: Tensor, s: Tensor, logvar: Tensor) -> Tensor:
    # u of every feature (the rotor branch is not drawn here: see rotor())
    x = self.gaussian(self.slot(noise, 0), loc, logvar)
    if self.num_periodic == 0:
        return x
    per = self.periodic_index.to(x.device)
    nz = noise.index_select(1, per)
    angle = self.von_mises_params(self.slot(nz, 0), loc.index_select(1, per), s,
                                  logvar.index_select(1, per), self.tries(nz))
    return torch.index_copy(x, 1, per, angle)

def sample_mixture(self, nz: Tensor, p: Tensor, i: int) -> Tensor:
    # periodic feature i ([B, 1]) from its mixture block p [B, 4K] and its noise nz ([B, 1] or [B, 1, S])
    K = p.size(1) // 4
    c = p[:, K:2 * K]
    s = p[:, 2 * K:3 * K]
    lv = p[:, 3 * K:]
    if K > 1:
        w = torch.softmax(p[:, :K], 1)
        j = torch.clamp(torch.sum(torch.cumsum(w, 1) <= self.slot(nz, 1).to(w.dtype), 1, keepdim=True), max=K - 1)
        c = c.gather(1, j)
        s = s.gather(1, j)
        lv = lv.gather(1, j)
    u = self.von_mises_params(self.slot(nz, 0), c, s, lv, self.tries(nz))
    if self.has_rotor:
        m = self.rotor_factor[i:i + 1]
        if bool(m[0] > 1.5):
            u = self.rotor_branch(u, self.slot(nz, 2), m)
    return u

def gaussian(self, noise: Tensor, loc: Tensor, logvar: Tensor) -> Tensor:
    lv = torch.clamp(logvar, min=-15.0)
    return loc + torch.exp(0.5 * lv) * (1.4142135623730951 * torch.erfinv(2.0 * noise.to(loc.dtype) - 1.0))

def von_mises_params(self, u_sign: Tensor, loc: Tensor, s: Tensor, logvar: Tensor, tries: Tensor) -> Tensor:
    kappa = torch.exp(-torch.clamp(logvar, min=-15.0))
    return self.von_mises(torch.atan2(s, loc), kappa, u_sign, tries)

def von_mises(self, mean: Tensor, kappa: Tensor, u_sign: Tensor, tries: Tensor) -> Tensor:
    # Best & Fisher (1979) rejection sampler in float64; rho in a cancellation-free form.
    # kappa < 1e-12 is raised to 1e-12 (indistinguishable from uniform in double precision).
    # Try t uses tries[..., 2t], tries[..., 2t + 1] where present, else torch.rand.
    k = torch.clamp(kappa.detach().to(@FLOAT64@), min=1e-12)
    q = torch.sqrt(1.0 + 4.0 * k * k)
    tau = 1.0 + q
    rho = 2.0 * k * tau / ((q + 1.0) * (tau + torch.sqrt(2.0 * tau)))
    r = (1.0 + rho * rho) / (2.0 * rho)
    # a non-finite concentration (NaN input) is "done" at once and yields NaN: never loop forever
    done = torch.logical_not(torch.isfinite(k))
    f = torch.where(done, k, torch.zeros_like(k))
    given = tries.size(-1) // 2
    t = 0
    while not bool(done.all()):
        if t < given:
            u1 = tries[..., 2 * t]
            u2 = tries[..., 2 * t + 1]
        else:
            u1 = torch.rand_like(k)
            u2 = torch.rand_like(k)
        t += 1
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
        return self.dist.log_prob_unit_variance(self.dist.scale_rotor(x), out[:, :nf], out[:, nf:])
    loc, s, logvar = self.params(z)
    return self.dist.log_prob(self.dist.scale_rotor(x), loc, s, logvar)

def sample(self, z: Tensor, noise: Tensor) -> Tensor:
    loc, s, logvar = self.params(z)
    return self.dist.rotor(self.dist.sample(noise, loc, s, logvar), noise)
)JIT";

// Autoregressive decoder (spec sections 1-3): MADE shifts added to the base head; z skips into both
// masked layers; the MADE sees (cos, sin) of m x for periodic features. Output in per-feature
// blocks from param_start: periodic [logits K, c K, s K, logvar K], non-periodic [loc, logvar].
const char* kAutoregressiveSource = R"JIT(
def conditional_out(self, x: Tensor, z: Tensor) -> Tensor:
    up = x
    if self.num_periodic > 0:
        up = self.dist.scale_rotor(x).index_select(1, self.periodic_index.to(x.device))
    return self.base_out(z) + self.made_out(self.conditioner(x, up), z)

def log_prob_out(self, x: Tensor, out: Tensor) -> Tensor:
    # ln P(x|z) from the conditional parameters out [B, nOut]
    B = x.size(0)
    lp = torch.zeros([B], dtype=out.dtype, device=out.device)
    nn = self.num_features - self.num_periodic
    if nn > 0:
        pn = out.index_select(1, self.nonperiodic_param_index.to(x.device)).reshape([B, nn, 2])
        xn = x.index_select(1, self.dist.nonperiodic_index.to(x.device))
        lp = lp + torch.sum(self.dist.gaussian_terms(xn, pn.select(2, 0), pn.select(2, 1)), 1)
    if self.num_periodic > 0:
        pp = out.index_select(1, self.periodic_param_index.to(x.device)).reshape(
            [B, self.num_periodic, 4, self.num_components])
        up = self.dist.scale_rotor(x).index_select(1, self.periodic_index.to(x.device))
        lp = lp + torch.sum(self.dist.mixture_log_prob(up.unsqueeze(2), pp), 1)
    return lp

def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    return self.log_prob_out(x, self.conditional_out(x, z))

def sample(self, z: Tensor, noise: Tensor) -> Tensor:
    # Feature by feature in MADE order, each hidden unit's tanh computed once: hidden degrees ascend,
    # the units of degree i see only the conditioner columns of features < i (a prefix of the
    # columns, so they are final when feature i is drawn) and feature i's block of outputs sees only
    # units of degree <= i. O(D H + H nOut) per row instead of the O(D^2 H) of D full passes.
    nf = self.num_features
    start: List[int] = self.made_hidden_group_start.tolist()
    cstart: List[int] = self.conditioner_start.tolist()
    pstart: List[int] = self.param_start.tolist()
    mult: List[int] = self.multiplicity.tolist()
    w1 = (self.made_hidden_weight * self.made_hidden_mask).t()
    w2 = (self.made_out_weight * self.made_out_mask).t()
    out = self.base_out(z) + torch.addmm(self.made_out_bias, z, self.made_out_skip_weight.t())
    pre = torch.addmm(self.made_hidden_bias, z, self.made_hidden_skip_weight.t())
    periodic: List[float] = self.dist.periodic_mask.tolist()
    cols: List[Tensor] = []
    drawn: List[Tensor] = []
    for i in range(nf):
        a = start[i]
        b = start[i + 1]
        if b > a:
            h = pre[:, a:b]
            if i > 0:
                h = torch.addmm(h, torch.cat(cols, 1), w1[:cstart[i], a:b])
            out = torch.addmm(out, torch.tanh(h), w2[a:b])
        p = out[:, pstart[i]:pstart[i + 1]]
        nz = noise[:, i:i + 1]
        if periodic[i] > 0.5:
            xi = self.dist.sample_mixture(nz, p, i)
            ui = xi * float(mult[i])
            cols.append(torch.cos(ui))
            cols.append(torch.sin(ui))
        else:
            xi = self.dist.gaussian(self.dist.slot(nz, 0), p[:, 0:1], p[:, 1:2])
            cols.append(xi)
        drawn.append(xi)
    return torch.cat(drawn, 1)
)JIT";

// Base distribution of u from z, then the MAF blocks (flow) in the spline domain.
const char* kFlowSource = R"JIT(
def to_domain(self, x: Tensor) -> Tensor:
    return self.dist.to_rotor(x) * self.domain_scale

def log_prob(self, x: Tensor, z: Tensor) -> Tensor:
    u, ld = self.flow.inverse(self.to_domain(x), z)
    loc, s, logvar = self.params(z)
    return self.dist.log_prob(u / self.domain_scale, loc, s, logvar) + ld

def sample(self, z: Tensor, noise: Tensor) -> Tensor:
    loc, s, logvar = self.params(z)
    u = self.dist.sample(noise, loc, s, logvar)
    y, ld = self.flow.forward(u * self.domain_scale, z)
    return self.dist.rotor(y / self.domain_scale, noise)
)JIT";

} // namespace

torch::jit::Module buildDist(Builder& b, const ModelConfig& config) {
    std::vector<int64_t> per, non;
    splitPeriodic(config, per, non);
    const std::vector<int64_t> mult = multiplicities(config);
    torch::jit::Module m = b.newModule("IndependentDist");
    addIntAttr(m, Model::kNumFeatures, config.numFeatures);
    addIntAttr(m, Model::kNumPeriodic, per.size());
    addIndexAttr(m, Model::kPeriodicIndex, per);
    addIndexAttr(m, Model::kNonPeriodicIndex, non);
    torch::Tensor mask = torch::zeros({config.numFeatures}, torch::kFloat32);
    for (int64_t i : per)
        mask[i] = 1.0f;
    m.register_buffer("periodic_mask", mask);
    // m_i as a float buffer (follows module.to(dtype)); the decoder's `multiplicity` is the record
    torch::Tensor factor = torch::tensor(std::vector<float>(mult.begin(), mult.end()), torch::kFloat32);
    m.register_buffer("rotor_factor", factor);
    addBoolAttr(m, "has_rotor", std::any_of(mult.begin(), mult.end(), [](int64_t v) { return v > 1; }));
    std::string src = kDistSource;
    replaceAll(src, "@D_LN2PI@", lit(0.5 * std::log(2.0 * M_PI) * non.size()));
    replaceAll(src, "@FLOAT64@", std::to_string(static_cast<int>(at::kDouble)));
    m.define(src);
    return m;
}

torch::jit::Module buildDecoder(Builder& b, const ModelConfig& config) {
    std::vector<int64_t> per, non;
    splitPeriodic(config, per, non);
    const std::vector<bool> periodic = periodicFlags(config);
    const int64_t D = config.numFeatures, P = per.size(), L = config.latent, H = config.hidden;
    const int64_t K = config.mixtureComponents;
    const DecoderKind kind = config.decoder;
    const bool fixedVariance = kind == DecoderKind::Mse;
    const int hiddenLayers = kind == DecoderKind::Flow ? 1 : 2;
    // autoregressive: per-feature blocks (periodic 4K, non-periodic 2 columns); others [loc, s, logvar]
    std::vector<int64_t> paramStart(D + 1, 0);
    for (int64_t i = 0; i < D; ++i)
        paramStart[i + 1] = paramStart[i] + (periodic[i] ? 4 * K : 2);
    const int64_t nOut = kind == DecoderKind::Autoregressive ? paramStart[D] : fixedVariance ? D + P : 2 * D + P;

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
    addIndexAttr(m, Model::kMultiplicity, multiplicities(config));
    addLinear(m, Model::kHidden1, L, H, b.init);
    if (hiddenLayers == 2)
        addLinear(m, Model::kHidden2, H, H, b.init);
    addLinear(m, Model::kOut, H, nOut, b.init);
    m.register_module(Model::kDist, buildDist(b, config));
    std::string src = baseSource(hiddenLayers, fixedVariance);
    if (kind == DecoderKind::Mse || kind == DecoderKind::Condind) {
        src += kIndependentSource;
    } else if (kind == DecoderKind::Autoregressive) {
        // every column of feature i's block has degree i + 1; conditioner columns of feature i too
        std::vector<int64_t> featureDeg(D), outDeg(nOut);
        for (int64_t i = 0; i < D; ++i) {
            featureDeg[i] = i + 1;
            std::fill(outDeg.begin() + paramStart[i], outDeg.begin() + paramStart[i + 1], i + 1);
        }
        addMADE(b, m, periodic, featureDeg, L, H, outDeg);
        addIntAttr(m, Model::kNumComponents, K);
        addIndexAttr(m, Model::kParamStart, paramStart);
        // columns of the periodic blocks ([P, 4K] row-major) and of the non-periodic ones ([D - P, 2])
        std::vector<int64_t> perCols, nonCols, cstart(D + 1, 0);
        for (int64_t i = 0; i < D; ++i) {
            for (int64_t c = paramStart[i]; c < paramStart[i + 1]; ++c)
                (periodic[i] ? perCols : nonCols).push_back(c);
            cstart[i + 1] = cstart[i] + (periodic[i] ? 2 : 1);
        }
        addIndexAttr(m, "periodic_param_index", perCols);
        addIndexAttr(m, "nonperiodic_param_index", nonCols);
        // conditioner columns of features < i: [0, cstart[i])
        addIndexAttr(m, "conditioner_start", cstart);
        // hidden units of degree i are [start[i], start[i + 1]); sample() needs the degrees ascending
        std::vector<int64_t> hDeg = madeHiddenDegrees(D, H), start(D + 1, H);
        if (!std::is_sorted(hDeg.begin(), hDeg.end()))
            throw std::logic_error("MADE hidden degrees must ascend");
        for (int64_t i = D; i-- > 0;)
            start[i] = std::lower_bound(hDeg.begin(), hDeg.end(), i) - hDeg.begin();
        addIndexAttr(m, Model::kMadeHiddenGroupStart, start);
        src += kMADESource;
        src += kAutoregressiveSource;
    } else {
        std::vector<torch::jit::Module> blocks;
        for (int k = 0; k < config.decoderFlowBlocks; ++k)
            blocks.push_back(buildMAFBlock(b, periodic, L, H, config.splineBins, k % 2 == 1));
        m.register_module(Model::kFlow, composeFlow(b, "DecoderFlow", blocks, true, D));
        torch::Tensor scale = torch::full({D}, static_cast<float>(2.0 * M_PI / 20.0), torch::kFloat32);
        for (int64_t i : per)
            scale[i] = 1.0f;
        m.register_buffer(Model::kDomainScale, scale);
        src += kFlowSource;
    }
    m.define(src);
    return m;
}

} // namespace model_detail
} // namespace VAEPlugin
