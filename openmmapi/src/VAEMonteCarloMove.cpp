#include "internal/VAEMonteCarloMove.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>

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

VaeMcLogAlpha vaeMcLogAlpha(const VaeMcTerms& t, double beta, const std::array<double, kVaeMcNumTerms>& w) {
    Tensor uC = d(t.energyCurrent), uP = d(t.energyProposal);
    Tensor qC = d(t.logQCurrent), qP = d(t.logQProposal);
    Tensor pC = d(t.logPriorCurrent), pP = d(t.logPriorProposal);
    Tensor xC = d(t.logDecoderCurrent), xP = d(t.logDecoderProposal);
    Tensor jC = d(t.logJacobianCurrent), jP = d(t.logJacobianProposal);
    VaeMcLogAlpha a;
    a.terms[0] = -beta * (uP - uC);
    a.terms[1] = qP - qC;
    a.terms[2] = pC - pP;
    a.terms[3] = xC - xP;
    a.terms[4] = jP - jC;
    a.total = torch::zeros_like(uC);
    for (int k = 0; k < kVaeMcNumTerms; k++) a.total = a.total + w[k] * a.terms[k];
    a.valid = torch::isfinite(uP) & torch::isfinite(qP) & torch::isfinite(pP) & torch::isfinite(xP) &
              torch::isfinite(jP) & ~torch::isnan(a.total);
    return a;
}

double vaeMcLogAlpha(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                     double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                     double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal, double beta,
                     std::array<double, kVaeMcNumTerms>* terms) {
    auto s = [](double v) { return torch::full({1}, v, torch::kFloat64); };
    VaeMcTerms t{s(energyCurrent),     s(energyProposal),     s(logQCurrent),       s(logQProposal),
                 s(logPriorCurrent),   s(logPriorProposal),   s(logDecoderCurrent), s(logDecoderProposal),
                 s(logJacobianCurrent), s(logJacobianProposal)};
    VaeMcLogAlpha a = vaeMcLogAlpha(t, beta);
    if (terms)
        for (int k = 0; k < kVaeMcNumTerms; k++) (*terms)[k] = a.terms[k].item<double>();
    if (!a.valid.item<bool>()) return -std::numeric_limits<double>::infinity();
    return a.total.item<double>();
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

VaeMcProposal proposeVaeMcMove(torch::jit::Module& bundle, const VaeMcState& current, at::Generator& gen) {
    torch::NoGradGuard noGrad;
    const Tensor& x = current.features;
    const int64_t n = x.size(0), D = x.size(1), L = latentSize(bundle);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    VaeMcProposal p;
    // 1. refresh z ~ q(z|x)
    auto [mu, lv] = tuple2(bundle.get_method("encode")({x}));
    Tensor z = mu + torch::exp(0.5 * lv) * torch::randn({n, L}, gen, opts);
    p.logQCurrent = call(bundle, "encoder_log_prob", {z, mu, lv});
    p.logPriorCurrent = call(bundle, "prior_log_prob", {z});
    p.logDecoderCurrent = call(bundle, "decoder_log_prob", {x, z});
    // 2. z' from the prior
    Tensor zp = call(bundle, "prior_sample", {torch::randn({n, L}, gen, opts)});
    p.logPriorProposal = call(bundle, "prior_log_prob", {zp});
    // 3. x' ~ P(x|z'); its configuration (external degrees of freedom from the current positions)
    Tensor u = torch::rand({n, D}, gen, opts).clamp(1e-300, 1.0 - 1e-16);
    Tensor xp;
    {
        DefaultGeneratorFrom vonMises(gen);
        xp = call(bundle, "decoder_sample", {zp, u});
    }
    Tensor positions = call(bundle, "positions_from_features", {xp, current.positions});
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

void VaeMcStatistics::Sums::add(const Tensor& values) {
    Tensor v = values.masked_select(torch::isfinite(values));
    finite += v.numel();
    sum += v.sum().item<double>();
    sumSq += (v * v).sum().item<double>();
}

VaeMcTermStats VaeMcStatistics::Sums::stats() const {
    VaeMcTermStats s;
    s.finite = finite;
    if (finite == 0) return s;
    s.mean = sum / finite;
    s.std = std::sqrt(std::max(0.0, sumSq / finite - s.mean * s.mean));
    return s;
}

void VaeMcStatistics::add(const VaeMcLogAlpha& a, const Tensor& accepted) {
    attempted_ += a.total.numel();
    accepted_ += accepted.sum().item<int64_t>();
    rejectedNonFinite_ += (~a.valid).sum().item<int64_t>();
    for (int k = 0; k < kVaeMcNumTerms; k++) terms_[k].add(a.terms[k]);
    total_.add(a.total);
}

VaeMcTermStats VaeMcStatistics::term(int k) const {
    if (k < 0 || k >= kVaeMcNumTerms) throw std::out_of_range("VaeMcStatistics: no term " + std::to_string(k));
    return terms_[k].stats();
}

VaeMcTermStats VaeMcStatistics::total() const { return total_.stats(); }

} // namespace VAEPlugin
