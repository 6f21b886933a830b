// Normalizing-flow pieces: the rational-quadratic spline (one definition), RealNVP coupling blocks
// (prior), masked autoregressive spline blocks (flow decoder), and their composition.
//
// Transform interface (every block and every composition):
//   forward(x[, ctx]) -> (y, logdet)   generative direction (noise -> data)
//   inverse(y[, ctx]) -> (x, logdet)   normalising direction (data -> noise)
// logdet = ln|det dy/dx| (resp. ln|det dx/dy|), shape [B].
#include "ModelParts.h"

#include <string>

namespace VAEPlugin {
namespace model_detail {

using namespace BundleSchema;

namespace {

// Monotone rational-quadratic spline of Durkan et al. (2019), elementwise. raw: [..., 3K - 1] =
// (K raw widths, K raw heights, K - 1 raw interior slopes), x: [...]. Returns the transformed values
// and the elementwise ln|dy/dx|. Outside [-bound, bound] the map is the identity (log-derivative 0);
// boundary slopes are 1, so the map is C1 everywhere. `forward` evaluates the rational quadratic of
// the bin; `inverse` solves it for xi (the numerically stable root). Written with few ATen calls
// (widths and heights share one softmax/cumsum, three gathers), since small-batch training is
// dominated by per-operation overhead.
const char* kSplineSource = R"JIT(
def forward(self, x: Tensor, raw: Tensor) -> Tuple[Tensor, Tensor]:
    return self.transform(x, raw, False)

def inverse(self, y: Tensor, raw: Tensor) -> Tuple[Tensor, Tensor]:
    # (a parameter may not be named `inverse`: TorchScript's lexer reads "not inverse" as "not in")
    return self.transform(y, raw, True)

def transform(self, x: Tensor, raw: Tensor, solve: bool) -> Tuple[Tensor, Tensor]:
    # knot slopes: 1 at both ends, softplus + min_slope inside
    nb = self.num_bins
    d = torch.constant_pad_nd(torch.softplus(raw[..., 2 * nb:3 * nb - 1]) + self.min_slope, [1, 1], 1.0)
    return self.rq(x, raw, d, solve)

def circular_transform(self, x: Tensor, raw: Tensor, periodic: Tensor, solve: bool) -> Tuple[Tensor, Tensor]:
    # raw [..., 3K + 1] = (K widths, K heights, K - 1 interior slopes, end slope, rotation r);
    # periodic (1.0 / 0.0, broadcasting to x) marks the circular features: both end slopes
    # softplus(end) + min_slope (equal, so the density is continuous across +-bound), composed with
    # the rotation. Density direction (solve = False): u = S(wrap(x - r)); generative (solve = True):
    # x = wrap(S^-1(u) + r). Other features: the plain spline (end slope and rotation unused).
    nb = self.num_bins
    per = periodic > 0.5
    inner = torch.softplus(raw[..., 2 * nb:3 * nb - 1]) + self.min_slope
    end = torch.where(per, torch.softplus(raw[..., 3 * nb - 1]) + self.min_slope, torch.ones_like(x)).unsqueeze(-1)
    d = torch.cat([end, inner, end], -1)
    rot = raw[..., 3 * nb]
    if solve:
        y, ld = self.rq(x, raw, d, True)
        return torch.where(per, self.wrap(y + rot), y), ld
    return self.rq(torch.where(per, self.wrap(x - rot), x), raw, d, False)

def wrap(self, a: Tensor) -> Tensor:
    return torch.remainder(a + self.bound, 2.0 * self.bound) - self.bound

def rq(self, x: Tensor, raw: Tensor, d: Tensor, solve: bool) -> Tuple[Tensor, Tensor]:
    # the spline of raw's widths and heights with knot slopes d [..., K + 1]
    bound = self.bound
    nb = self.num_bins
    shape = x.size()
    # bin widths (row 0) and heights (row 1): softmax * (2 bound - K min_bin) + min_bin
    wh = torch.softmax(raw[..., :2 * nb].reshape(shape + [2, nb]), -1) * self.span + self.min_bin
    knots = torch.cumsum(torch.constant_pad_nd(wh, [1, 0], -bound), -1)
    xc = torch.clamp(x, -bound, bound)
    inside = xc == x
    row = 0
    if solve:
        row = 1
    idx = torch.searchsorted(knots.select(-2, row)[..., 1:nb].contiguous(), xc.unsqueeze(-1), right=True)
    i2 = idx.unsqueeze(-1).expand(shape + [2, 1])
    x0, y0 = knots.gather(-1, i2).squeeze(-1).unbind(-1)
    wk, hk = wh.gather(-1, i2).squeeze(-1).unbind(-1)
    d0, d1 = d.gather(-1, torch.cat([idx, idx + 1], -1)).unbind(-1)
    s = hk / wk
    c2 = (d1 + d0) - (s + s)
    if solve:
        dy = xc - y0
        qa = hk * (s - d0) + dy * c2
        qb = hk * d0 - dy * c2
        qc = s * dy
        xi = (qc + qc) / (qb + torch.sqrt(torch.clamp(qb * qb + 4.0 * qa * qc, min=0.0)))
        out = torch.addcmul(x0, xi, wk)
        omx = 1.0 - xi
        t = xi * omx
        den = torch.addcmul(s, c2, t)
    else:
        xi = (xc - x0) / wk
        omx = 1.0 - xi
        t = xi * omx
        den = torch.addcmul(s, c2, t)
        out = y0 + hk * torch.addcmul(d0 * t, s * xi, xi) / den
    num = torch.addcmul(torch.addcmul(d1 * xi * xi, s, t, value=2.0), d0 * omx, omx)
    r = s / den
    logd = torch.log(num * r * r)
    if solve:
        logd = -logd
    return torch.where(inside, out, x), torch.where(inside, logd, 0.0)
)JIT";

// RealNVP coupling block: the transformed half goes through the spline whose parameters come from a
// one-hidden-layer ReLU conditioner of the other half (or of the constant 1 when L = 1). The
// normalising direction z -> eps (used by every training step) applies the spline's explicit
// formula; the generative direction eps -> z solves it.
const char* kCouplingSource = R"JIT(
def conditioner(self, c: Tensor) -> Tensor:
    h = torch.relu(torch.addmm(self.hidden_bias, c, self.hidden_weight.t()))
    p = torch.addmm(self.out_bias, h, self.out_weight.t())
    return p.reshape([c.size(0), self.num_transformed, 3 * self.num_bins - 1])

def split_input(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    if self.constant_input:
        return torch.ones([x.size(0), 1], dtype=x.dtype, device=x.device), x
    if self.transform_second:
        return x[:, :self.split], x[:, self.split:]
    return x[:, self.split:], x[:, :self.split]

def join(self, c: Tensor, t: Tensor) -> Tensor:
    if self.constant_input:
        return t
    if self.transform_second:
        return torch.cat([c, t], 1)
    return torch.cat([t, c], 1)

def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    c, t = self.split_input(x)
    y, ld = self.spline.inverse(t, self.conditioner(c))
    return self.join(c, y), ld.sum(1)

def inverse(self, y: Tensor) -> Tuple[Tensor, Tensor]:
    c, t = self.split_input(y)
    x, ld = self.spline.forward(t, self.conditioner(c))
    return self.join(c, x), ld.sum(1)
)JIT";

// Masked autoregressive spline block conditioned on z. Density direction (inverse, data -> noise)
// is one pass: u_i = spline(x_i; theta_i(x_<i, z)), circular for periodic features (spec section 4). The generative direction solves the features
// one at a time in the block's order, computing only the current feature's spline parameters.
const char* kMAFSource = R"JIT(
def spline_params(self, x: Tensor, z: Tensor) -> Tensor:
    up = x
    if self.num_periodic > 0:
        up = x.index_select(1, self.periodic_index.to(x.device))
    p = self.made_out(self.conditioner(x, up), z)
    return p.reshape([x.size(0), self.num_features, 3 * self.num_bins + 1])

def inverse(self, x: Tensor, z: Tensor) -> Tuple[Tensor, Tensor]:
    u, ld = self.spline.circular_transform(x, self.spline_params(x, z), self.periodic_mask, False)
    return u, ld.sum(1)

def forward(self, u: Tensor, z: Tensor) -> Tuple[Tensor, Tensor]:
    # feature by feature in the block's order; only the output rows of the current feature are
    # computed (the masks make the not-yet-computed columns of x irrelevant)
    nf = self.num_features
    npar = 3 * self.num_bins + 1
    hz = torch.addmm(self.made_hidden_bias, z, self.made_hidden_skip_weight.t())
    oz = torch.addmm(self.made_out_bias, z, self.made_out_skip_weight.t())
    w1 = (self.made_hidden_weight * self.made_hidden_mask).t()
    w2 = self.made_out_weight * self.made_out_mask
    per = self.periodic_index.to(u.device)
    x = torch.zeros_like(u)
    ld = torch.zeros([u.size(0)], dtype=u.dtype, device=u.device)
    for k in range(nf):
        i = k
        if self.reversed:
            i = nf - 1 - k
        up = x
        if self.num_periodic > 0:
            up = x.index_select(1, per)
        h = torch.tanh(torch.addmm(hz, self.conditioner(x, up), w1))
        p = torch.addmm(oz[:, i * npar:(i + 1) * npar], h, w2[i * npar:(i + 1) * npar].t())
        xi, ldi = self.spline.circular_transform(u[:, i:i + 1], p.unsqueeze(1), self.periodic_mask[i:i + 1], True)
        x = torch.cat([x[:, :i], xi, x[:, i + 1:]], 1)
        ld = ld + ldi.squeeze(1)
    return x, ld
)JIT";

} // namespace

torch::jit::Module buildSpline(Builder& b, int64_t bins, double bound, double minBin, double minSlope) {
    torch::jit::Module m = b.newModule("RQSpline");
    addIntAttr(m, Model::kNumBins, bins);
    addFloatAttr(m, Model::kBound, bound);
    addFloatAttr(m, Model::kMinBin, minBin);
    addFloatAttr(m, Model::kMinSlope, minSlope);
    addFloatAttr(m, Model::kSpan, 2.0 * bound - bins * minBin);
    m.define(kSplineSource);
    return m;
}

torch::jit::Module buildCoupling(Builder& b, int64_t latent, int64_t hidden, int64_t bins, bool even) {
    torch::jit::Module m = b.newModule("Coupling");
    const bool constant = latent == 1;
    const int64_t split = latent / 2;
    const int64_t nT = constant ? 1 : (even ? latent - split : split);
    const int64_t nC = constant ? 1 : latent - nT;
    addLinear(m, Model::kHidden, nC, hidden, b.init);
    addLinear(m, Model::kOut, hidden, nT * (3 * bins - 1), b.init);
    addIntAttr(m, Model::kNumBins, bins);
    addIntAttr(m, Model::kNumTransformed, nT);
    addIntAttr(m, Model::kSplit, split);
    addBoolAttr(m, Model::kConstantInput, constant);
    addBoolAttr(m, Model::kTransformSecond, even);
    m.register_module(Model::kSpline, buildSpline(b, bins, 10.0));
    m.define(kCouplingSource);
    return m;
}

torch::jit::Module buildMAFBlock(Builder& b, const std::vector<bool>& periodic, int64_t latent, int64_t hidden,
                                 int64_t bins, bool reversed) {
    torch::jit::Module m = b.newModule("MAFBlock");
    const int64_t D = periodic.size(), P = 3 * bins + 1;  // raw spline parameters per feature
    std::vector<int64_t> featureDeg(D), outDeg(D * P);
    for (int64_t i = 0; i < D; ++i)
        featureDeg[i] = reversed ? D - i : i + 1;
    for (int64_t o = 0; o < D * P; ++o)
        outDeg[o] = featureDeg[o / P];
    addMADE(b, m, periodic, featureDeg, latent, hidden, outDeg);
    addIntAttr(m, Model::kNumFeatures, D);
    addIntAttr(m, Model::kNumBins, bins);
    addBoolAttr(m, Model::kReversed, reversed);
    torch::Tensor mask = torch::zeros({D}, torch::kFloat32);
    for (int64_t i = 0; i < D; ++i)
        mask[i] = periodic[i] ? 1.0f : 0.0f;
    m.register_buffer("periodic_mask", mask);
    torch::jit::Module spline = buildSpline(b, bins, M_PI);
    addBoolAttr(spline, Model::kCircular, true);
    m.register_module(Model::kSpline, spline);
    m.define(std::string(kMADESource) + kMAFSource);
    return m;
}

torch::jit::Module composeFlow(Builder& b, const std::string& className, const std::vector<torch::jit::Module>& blocks,
                               bool context, int64_t dim) {
    torch::jit::Module m = b.newModule(className);
    for (size_t i = 0; i < blocks.size(); ++i)
        m.register_module(Model::kBlockPrefix + std::to_string(i), blocks[i]);
    addIntAttr(m, Model::kNumBlocks, blocks.size());
    addIntAttr(m, Model::kDim, dim);
    const std::string ctxArg = context ? ", ctx: Tensor" : "";
    const std::string ctx = context ? ", ctx" : "";
    std::string src;
    src += "def forward(self, x: Tensor" + ctxArg + ") -> Tuple[Tensor, Tensor]:\n";
    src += "    ld = torch.zeros([x.size(0)], dtype=x.dtype, device=x.device)\n";
    for (size_t i = 0; i < blocks.size(); ++i)
        src += "    x, l = self.block" + std::to_string(i) + ".forward(x" + ctx + ")\n    ld = ld + l\n";
    src += "    return x, ld\n\n";
    src += "def inverse(self, x: Tensor" + ctxArg + ") -> Tuple[Tensor, Tensor]:\n";
    src += "    ld = torch.zeros([x.size(0)], dtype=x.dtype, device=x.device)\n";
    for (size_t i = blocks.size(); i-- > 0;)
        src += "    x, l = self.block" + std::to_string(i) + ".inverse(x" + ctx + ")\n    ld = ld + l\n";
    src += "    return x, ld\n";
    if (!context) {
        src += "\ndef log_prob(self, z: Tensor) -> Tensor:\n"
               "    eps, ld = self.inverse(z)\n"
               "    return -0.5 * torch.sum(eps * eps, 1) - " + lit(0.5 * dim * std::log(2.0 * M_PI)) + " + ld\n"
               "\ndef sample(self, eps: Tensor) -> Tensor:\n"
               "    z, ld = self.forward(eps)\n"
               "    return z\n";
    }
    m.define(src);
    return m;
}

torch::jit::Module buildPrior(Builder& b, const ModelConfig& config) {
    std::vector<torch::jit::Module> blocks;
    for (int k = 0; k < config.priorBlocks; ++k)
        blocks.push_back(buildCoupling(b, config.latent, config.flowHidden, config.splineBins, k % 2 == 0));
    return composeFlow(b, "Prior", blocks, false, config.latent);
}

} // namespace model_detail
} // namespace VAEPlugin
