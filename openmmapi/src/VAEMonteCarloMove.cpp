#include "internal/VAEMonteCarloMove.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace VAEPlugin {

using torch::Tensor;

const std::array<std::string, kVaeMcNumTerms>& vaeMcTermNames() {
    static const std::array<std::string, kVaeMcNumTerms> names = {"energy", "encoder", "prior", "decoder", "jacobian"};
    return names;
}

namespace {
Tensor d(const Tensor& t) {
    if (!t.defined()) throw std::invalid_argument("vaeMcLogAlpha: a term of ln alpha is missing");
    return t.to(torch::kFloat64).reshape({-1});
}

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
    if (!bundle.hasattr("model")) return mask;
    torch::jit::Module model = bundle.attr("model").toModule();
    if (!model.hasattr("periodic")) return mask;
    auto periodic = model.attr("periodic").toBoolList();
    for (int64_t i = 0; i < D && i < static_cast<int64_t>(periodic.size()); i++)
        mask[0][i] = static_cast<bool>(periodic.get(i));
    return mask;
}

int64_t latentSize(torch::jit::Module& bundle) {
    if (bundle.hasattr("latent")) return bundle.attr("latent").toInt();
    return bundle.attr("model").toModule().attr("latent").toInt();
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

VaeMcLogAlphaValue vaeMcLogAlphaValue(double uC, double uP, double qC, double qP, double pC, double pP, double xC,
                                      double xP, double jC, double jP, double beta,
                                      const std::array<double, kVaeMcNumTerms>& w) {
    VaeMcLogAlphaValue a;
    a.terms = {-beta * (uP - uC), qP - qC, pC - pP, xC - xP, jP - jC};
    a.total = 0;
    for (int k = 0; k < kVaeMcNumTerms; k++) a.total += w[k] * a.terms[k];
    a.valid = std::isfinite(uP) && std::isfinite(qP) && std::isfinite(pP) && std::isfinite(xP) && std::isfinite(jP) &&
              !std::isnan(a.total);
    return a;
}

VaeMcLogAlpha vaeMcLogAlpha(const VaeMcTerms& t, double beta, const std::array<double, kVaeMcNumTerms>& w) {
    const std::array<Tensor, 10> in = {d(t.energyCurrent), d(t.energyProposal), d(t.logQCurrent), d(t.logQProposal),
                                       d(t.logPriorCurrent), d(t.logPriorProposal), d(t.logDecoderCurrent),
                                       d(t.logDecoderProposal), d(t.logJacobianCurrent), d(t.logJacobianProposal)};
    const int64_t n = in[0].numel();
    for (const Tensor& v : in)
        if (v.numel() != n) throw std::invalid_argument("vaeMcLogAlpha: the terms of ln alpha differ in length");
    std::array<Tensor, 10> c;
    for (int i = 0; i < 10; i++) c[i] = in[i].contiguous();
    VaeMcLogAlpha a;
    for (int k = 0; k < kVaeMcNumTerms; k++) a.terms[k] = torch::empty({n}, torch::kFloat64);
    a.total = torch::empty({n}, torch::kFloat64);
    a.valid = torch::empty({n}, torch::kBool);
    for (int64_t r = 0; r < n; r++) {
        auto v = [&](int i) { return c[i].data_ptr<double>()[r]; };
        VaeMcLogAlphaValue one = vaeMcLogAlphaValue(v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), beta, w);
        for (int k = 0; k < kVaeMcNumTerms; k++) a.terms[k].data_ptr<double>()[r] = one.terms[k];
        a.total.data_ptr<double>()[r] = one.total;
        a.valid.data_ptr<bool>()[r] = one.valid;
    }
    return a;
}

double vaeMcLogAlpha(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                     double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                     double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal, double beta,
                     std::array<double, kVaeMcNumTerms>* terms) {
    VaeMcLogAlphaValue a = vaeMcLogAlphaValue(energyCurrent, energyProposal, logQCurrent, logQProposal, logPriorCurrent,
                                              logPriorProposal, logDecoderCurrent, logDecoderProposal,
                                              logJacobianCurrent, logJacobianProposal, beta);
    if (terms) *terms = a.terms;
    return a.valid ? a.total : -std::numeric_limits<double>::infinity();
}

Tensor acceptMoves(const VaeMcLogAlpha& a, const Tensor& uniform) {
    return a.valid & (torch::log(uniform.to(torch::kFloat64).reshape({-1})) < a.total);
}

VaeMcState vaeMcState(torch::jit::Module& bundle, const Tensor& positions) {
    torch::NoGradGuard noGrad;
    VaeMcState s;
    s.positions = positions.to(torch::kFloat64);
    std::tie(s.features, s.logJacobian) = tuple2(bundle.get_method("featurize")({s.positions}));
    return s;
}

VaeMcRefresh refreshVaeMcLatents(torch::jit::Module& bundle, const Tensor& x, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    const int64_t n = x.size(0), L = latentSize(bundle);
    auto [mu, lv] = tuple2(bundle.get_method("encode")({x}));
    Tensor z = mu + torch::exp(0.5 * lv) * torch::randn({n, L}, gen, torch::TensorOptions().dtype(torch::kFloat64));
    VaeMcRefresh r;
    r.logQCurrent = call(bundle, "encoder_log_prob", {z, mu, lv});
    r.logPriorCurrent = call(bundle, "prior_log_prob", {z});
    r.logDecoderCurrent = call(bundle, "decoder_log_prob", {x, z});
    return r;
}

VaeMcProposalBatch drawVaeMcProposals(torch::jit::Module& bundle, const Tensor& reference, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    const int64_t n = reference.size(0), L = latentSize(bundle);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    VaeMcProposalBatch p;
    // z' from the prior
    Tensor zp = call(bundle, "prior_sample", {torch::randn({n, L}, gen, opts)});
    p.logPriorProposal = call(bundle, "prior_log_prob", {zp});
    // x' ~ P(x|z'); its configuration (what the features leave free from the reference)
    const Tensor ref = reference.to(torch::kFloat64);
    const int64_t D = bundle.hasattr("num_features") ? bundle.attr("num_features").toInt()
                                                     : vaeMcState(bundle, ref.narrow(0, 0, 1)).features.size(1);
    Tensor u = torch::rand({n, D}, gen, opts).clamp(1e-300, 1.0 - 1e-16);
    {
        DefaultGeneratorFrom vonMises(gen);
        p.decoded = call(bundle, "decoder_sample", {zp, u});
    }
    const Tensor& xp = p.decoded;
    Tensor positions = call(bundle, "positions_from_features", {xp, ref});
    p.state = vaeMcState(bundle, positions);
    // outside the feature domain (e.g. r < 0) the round trip does not return x'
    Tensor diff = p.state.features - xp;
    diff = torch::where(periodicMask(bundle, D), torch::atan2(torch::sin(diff), torch::cos(diff)), diff);
    p.admissible = torch::isfinite(xp).all(1) & (diff.abs() <= 1e-8 * (1.0 + xp.abs())).all(1);
    // proposal-side densities at the features the chain will carry on from
    const Tensor& xc = p.state.features;
    auto [mup, lvp] = tuple2(bundle.get_method("encode")({xc}));
    p.logQProposal = call(bundle, "encoder_log_prob", {zp, mup, lvp});
    p.logDecoderProposal = call(bundle, "decoder_log_prob", {xc, zp});
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

Tensor placeVaeMcProposal(torch::jit::Module& bundle, const VaeMcProposalBatch& batch, int64_t row, const Tensor& drawnOn,
                          const Tensor& current) {
    Tensor drawn = batch.state.positions.narrow(0, row, 1);
    if (torch::equal(drawnOn, current)) return drawn;
    if (!bundle.hasattr("bat_root"))
        return call(bundle, "positions_from_features", {batch.decoded.narrow(0, row, 1), current});
    std::vector<int64_t> root;
    c10::List<c10::IValue> roots = bundle.attr("bat_root").toList();
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

VaeMcProposal proposeVaeMcMove(torch::jit::Module& bundle, const VaeMcState& current, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    VaeMcRefresh r = refreshVaeMcLatents(bundle, current.features, gen);
    VaeMcProposalBatch b = drawVaeMcProposals(bundle, current.positions, gen);
    VaeMcProposal p;
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

VaeMcLogAlpha vaeMcLogAlpha(const VaeMcState& current, const VaeMcProposal& p, const Tensor& energyCurrent,
                            const Tensor& energyProposal, double beta,
                            const std::array<double, kVaeMcNumTerms>& termWeights) {
    VaeMcTerms t{energyCurrent,       energyProposal,       p.logQCurrent,       p.logQProposal,
                 p.logPriorCurrent,   p.logPriorProposal,   p.logDecoderCurrent, p.logDecoderProposal,
                 current.logJacobian, p.state.logJacobian};
    VaeMcLogAlpha a = vaeMcLogAlpha(t, beta, termWeights);
    a.valid = a.valid & p.admissible;
    return a;
}

void VaeMcStatistics::Sums::add(double value) {
    if (!std::isfinite(value)) return;
    finite++;
    sum += value;
    sumSq += value * value;
}

VaeMcTermStats VaeMcStatistics::Sums::stats() const {
    VaeMcTermStats s;
    s.finite = finite;
    if (finite == 0) return s;
    s.mean = sum / finite;
    s.std = std::sqrt(std::max(0.0, sumSq / finite - s.mean * s.mean));
    return s;
}

void VaeMcStatistics::add(const VaeMcLogAlphaValue& a, bool accepted) {
    attempted_++;
    accepted_ += accepted;
    rejectedNonFinite_ += !a.valid;
    for (int k = 0; k < kVaeMcNumTerms; k++) terms_[k].add(a.terms[k]);
    total_.add(a.total);
}

void VaeMcStatistics::add(const VaeMcLogAlpha& a, const Tensor& accepted) {
    const Tensor total = a.total.to(torch::kFloat64).contiguous(), valid = a.valid.to(torch::kBool).contiguous(),
                 acc = accepted.to(torch::kBool).reshape({-1}).contiguous();
    std::array<Tensor, kVaeMcNumTerms> terms;
    for (int k = 0; k < kVaeMcNumTerms; k++) terms[k] = a.terms[k].to(torch::kFloat64).contiguous();
    for (int64_t r = 0; r < total.numel(); r++) {
        VaeMcLogAlphaValue one;
        for (int k = 0; k < kVaeMcNumTerms; k++) one.terms[k] = terms[k].data_ptr<double>()[r];
        one.total = total.data_ptr<double>()[r];
        one.valid = valid.data_ptr<bool>()[r];
        add(one, acc.data_ptr<bool>()[r]);
    }
}

VaeMcTermStats VaeMcStatistics::term(int k) const {
    if (k < 0 || k >= kVaeMcNumTerms) throw std::out_of_range("VaeMcStatistics: no term " + std::to_string(k));
    return terms_[k].stats();
}

VaeMcTermStats VaeMcStatistics::total() const { return total_.stats(); }

// Counts and sums are plain numbers, so the object's bytes are the whole state.
static_assert(std::is_trivially_copyable<VaeMcStatistics>::value, "VaeMcStatistics is written as bytes");

void VaeMcStatistics::write(std::ostream& stream) const {
    stream.write(reinterpret_cast<const char*>(this), sizeof(*this));
}

bool VaeMcStatistics::read(std::istream& stream) {
    VaeMcStatistics loaded;
    stream.read(reinterpret_cast<char*>(&loaded), sizeof(loaded));
    if (!stream)
        return false;
    *this = loaded;
    return true;
}

} // namespace VAEPlugin
