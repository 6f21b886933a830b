#include "VAEMCProposals.h"
#include "BundleSchema.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace VAEPlugin {

using torch::Tensor;

namespace {

namespace A = BundleSchema::Attribute;
namespace M = BundleSchema::Model;
namespace Mt = BundleSchema::Method;

std::pair<Tensor, Tensor> tuple2(const c10::IValue& v) {
    auto t = v.toTuple();
    return {t->elements()[0].toTensor().to(torch::kFloat64), t->elements()[1].toTensor().to(torch::kFloat64)};
}

Tensor call(torch::jit::Module& bundle, const char* method, std::vector<c10::IValue> args) {
    return bundle.get_method(method)(std::move(args)).toTensor().to(torch::kFloat64);
}

/** Which features are periodic (torsions, angles): compared modulo 2 pi in the round-trip check. */
Tensor periodicMask(torch::jit::Module& bundle, int64_t D) {
    Tensor mask = torch::zeros({1, D}, torch::kBool);
    if (!bundle.hasattr(A::kModel)) return mask;
    torch::jit::Module model = bundle.attr(A::kModel).toModule();
    if (!model.hasattr(M::kPeriodic)) return mask;
    auto periodic = model.attr(M::kPeriodic).toBoolList();
    for (int64_t i = 0; i < D && i < static_cast<int64_t>(periodic.size()); i++)
        mask[0][i] = static_cast<bool>(periodic.get(i));
    return mask;
}

int64_t latentSize(torch::jit::Module& bundle) {
    if (bundle.hasattr(A::kLatent)) return bundle.attr(A::kLatent).toInt();
    return bundle.attr(A::kModel).toModule().attr(M::kLatent).toInt();
}

/**
 * LibTorch's default CPU generator seeded from `generator` for the lifetime of the object, its state
 * restored afterwards: the decoder's von Mises rejection sampler draws from the default generator,
 * and a run must depend on its own generator only (and leave everybody else's random stream alone).
 */
class DefaultGeneratorFrom {
public:
    explicit DefaultGeneratorFrom(at::Generator& generator) : def(at::detail::getDefaultCPUGenerator()) {
        uint64_t seed;
        {
            std::lock_guard<std::mutex> lock(generator.mutex());
            seed = at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
        }
        std::lock_guard<std::mutex> lock(def.mutex());
        saved = def.get_state();
        def.set_current_seed(seed);
    }
    ~DefaultGeneratorFrom() {
        std::lock_guard<std::mutex> lock(def.mutex());
        def.set_state(saved);
    }
private:
    at::Generator def;
    Tensor saved;
};

} // namespace

VAEMCState vaeMCState(torch::jit::Module& bundle, const Tensor& positions) {
    torch::NoGradGuard noGrad;
    VAEMCState s;
    s.positions = positions.to(torch::kFloat64);
    std::tie(s.features, s.logJacobian) = tuple2(bundle.get_method(Mt::kFeaturize)({s.positions}));
    return s;
}

VAEMCRefresh refreshVAEMCLatents(torch::jit::Module& bundle, const Tensor& x, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    const int64_t n = x.size(0), L = latentSize(bundle);
    auto [mu, lv] = tuple2(bundle.get_method(Mt::kEncode)({x}));
    Tensor z = mu + torch::exp(0.5 * lv) * torch::randn({n, L}, gen, torch::TensorOptions().dtype(torch::kFloat64));
    VAEMCRefresh r;
    r.logQCurrent = call(bundle, Mt::kEncoderLogProb, {z, mu, lv});
    r.logPriorCurrent = call(bundle, Mt::kPriorLogProb, {z});
    r.logDecoderCurrent = call(bundle, Mt::kDecoderLogProb, {x, z});
    return r;
}

VAEMCProposalBatch drawVAEMCProposals(torch::jit::Module& bundle, const Tensor& reference, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    const int64_t n = reference.size(0), L = latentSize(bundle);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    VAEMCProposalBatch p;
    // z' from the prior
    Tensor zp = call(bundle, Mt::kPriorSample, {torch::randn({n, L}, gen, opts)});
    p.logPriorProposal = call(bundle, Mt::kPriorLogProb, {zp});
    // x' ~ P(x|z'); its configuration (what the features leave free from the reference)
    const Tensor ref = reference.to(torch::kFloat64);
    const int64_t D = bundle.hasattr(A::kNumFeatures) ? bundle.attr(A::kNumFeatures).toInt()
                                                     : vaeMCState(bundle, ref.narrow(0, 0, 1)).features.size(1);
    Tensor u = torch::rand({n, D}, gen, opts).clamp(1e-300, 1.0 - 1e-16);
    {
        DefaultGeneratorFrom vonMises(gen);
        p.decoded = call(bundle, Mt::kDecoderSample, {zp, u});
    }
    const Tensor& xp = p.decoded;
    Tensor positions = call(bundle, Mt::kPositionsFromFeatures, {xp, ref});
    p.state = vaeMCState(bundle, positions);
    // outside the feature domain (e.g. r < 0) the round trip does not return x'
    Tensor diff = p.state.features - xp;
    diff = torch::where(periodicMask(bundle, D), torch::atan2(torch::sin(diff), torch::cos(diff)), diff);
    p.admissible = torch::isfinite(xp).all(1) & (diff.abs() <= 1e-8 * (1.0 + xp.abs())).all(1);
    // proposal-side densities at the features the chain will carry on from
    const Tensor& xc = p.state.features;
    auto [mup, lvp] = tuple2(bundle.get_method(Mt::kEncode)({xc}));
    p.logQProposal = call(bundle, Mt::kEncoderLogProb, {zp, mup, lvp});
    p.logDecoderProposal = call(bundle, Mt::kDecoderLogProb, {xc, zp});
    return p;
}

namespace {
/** Origin and orthonormal axes (columns) of the frame of the bat root atoms, as positions_from_features builds it. */
void rootFrame(const torch::TensorAccessor<double, 2>& x, const std::vector<int64_t>& root, double origin[3], double axes[3][3]) {
    double u[3], w[3], nu = 0, dot = 0, nw = 0;
    for (int d = 0; d < 3; d++) {
        origin[d] = x[root[0]][d];
        u[d] = x[root[1]][d] - x[root[0]][d];
        w[d] = x[root[2]][d] - x[root[1]][d];
        nu += u[d] * u[d];
    }
    nu = std::sqrt(nu);
    for (int d = 0; d < 3; d++) { u[d] /= nu; dot += w[d] * u[d]; }
    for (int d = 0; d < 3; d++) { w[d] -= dot * u[d]; nw += w[d] * w[d]; }
    nw = std::sqrt(nw);
    for (int d = 0; d < 3; d++) w[d] /= nw;
    const double v[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
    for (int d = 0; d < 3; d++) { axes[d][0] = u[d]; axes[d][1] = w[d]; axes[d][2] = v[d]; }
}
} // namespace

Tensor placeVAEMCProposal(torch::jit::Module& bundle, const VAEMCProposalBatch& batch, int64_t row, const Tensor& drawnOn,
                          const Tensor& current) {
    Tensor drawn = batch.state.positions.narrow(0, row, 1);
    if (torch::equal(drawnOn, current)) return drawn;
    if (!bundle.hasattr(A::kBatRoot))
        return call(bundle, Mt::kPositionsFromFeatures, {batch.decoded.narrow(0, row, 1), current});
    std::vector<int64_t> root;
    c10::List<c10::IValue> roots = bundle.attr(A::kBatRoot).toList();
    for (size_t i = 0; i < roots.size(); i++) root.push_back(roots.get(i).toInt());
    // x_new = o_current + A_current A_drawn^T (x - o_drawn): the rigid motion taking one root frame to the other
    double o1[3], a1[3][3], o2[3], a2[3][3], m[3][3];
    Tensor from = drawnOn.to(torch::kFloat64)[0], to = current.to(torch::kFloat64)[0];
    rootFrame(from.accessor<double, 2>(), root, o1, a1);
    rootFrame(to.accessor<double, 2>(), root, o2, a2);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) m[i][j] = a2[i][0] * a1[j][0] + a2[i][1] * a1[j][1] + a2[i][2] * a1[j][2];
    Tensor out = torch::empty_like(drawn);
    auto src = drawn.accessor<double, 3>();
    auto dst = out.accessor<double, 3>();
    for (int64_t k = 0; k < drawn.size(1); k++) {
        const double y[3] = {src[0][k][0] - o1[0], src[0][k][1] - o1[1], src[0][k][2] - o1[2]};
        for (int i = 0; i < 3; i++) dst[0][k][i] = o2[i] + m[i][0] * y[0] + m[i][1] * y[1] + m[i][2] * y[2];
    }
    return out;
}

VAEMCProposal proposeVAEMCMove(torch::jit::Module& bundle, const VAEMCState& current, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    VAEMCRefresh r = refreshVAEMCLatents(bundle, current.features, gen);
    VAEMCProposalBatch b = drawVAEMCProposals(bundle, current.positions, gen);
    VAEMCProposal p;
    p.state = b.state;
    p.logQCurrent = r.logQCurrent;
    p.logPriorCurrent = r.logPriorCurrent;
    p.logDecoderCurrent = r.logDecoderCurrent;
    p.logQProposal = b.logQProposal;
    p.logPriorProposal = b.logPriorProposal;
    p.logDecoderProposal = b.logDecoderProposal;
    p.admissible = b.admissible;
    return p;
}

VAEMCLogAlpha vaeMCLogAlpha(const VAEMCState& current, const VAEMCProposal& p, const Tensor& energyCurrent,
                            const Tensor& energyProposal, double beta,
                            const std::array<double, kVAEMCNumTerms>& termWeights) {
    VAEMCTerms t{energyCurrent,       energyProposal,       p.logQCurrent,       p.logQProposal,
                 p.logPriorCurrent,   p.logPriorProposal,   p.logDecoderCurrent, p.logDecoderProposal,
                 current.logJacobian, p.state.logJacobian};
    VAEMCLogAlpha a = vaeMCLogAlpha(t, beta, termWeights);
    a.valid = a.valid & p.admissible;
    return a;
}

} // namespace VAEPlugin
