#include "VaeMonteCarlo.h"

#include "Metrics.h"

#include <cmath>
#include <limits>
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

namespace {

struct Eval {
    Tensor positions, features, logJ, energy;
};

std::pair<Tensor, Tensor> tuple2(const c10::IValue& v) {
    auto t = v.toTuple();
    return {t->elements()[0].toTensor(), t->elements()[1].toTensor()};
}

/** Positions, round-tripped features, ln J and energy of features f; ok marks proposals inside the domain. */
Eval evaluate(torch::jit::Module& bundle, const System2D& system, const Tensor& f, const Tensor& reference,
              const Tensor& periodicMask, Tensor* ok) {
    Eval e;
    e.positions = bundle.get_method("positions_from_features")({f, reference}).toTensor().to(torch::kFloat64);
    auto [f2, lj] = tuple2(bundle.get_method("featurize")({e.positions}));
    e.features = f2.to(torch::kFloat64);
    e.logJ = lj.to(torch::kFloat64);
    e.energy = system.energy(e.positions.select(1, 0).slice(1, 0, 2));
    if (ok) {
        Tensor diff = e.features - f;
        Tensor wrapped = torch::atan2(torch::sin(diff), torch::cos(diff));
        diff = torch::where(periodicMask, wrapped, diff);
        *ok = (diff.abs() <= 1e-8 * (1.0 + f.abs())).all(1);
    }
    return e;
}

void accumulate(VaeMcTermStats& s, double& sum, double& sumSq, const Tensor& values) {
    Tensor fin = torch::isfinite(values);
    Tensor v = values.masked_select(fin);
    s.finite += v.numel();
    sum += v.sum().item<double>();
    sumSq += (v * v).sum().item<double>();
}

void finish(VaeMcTermStats& s, double sum, double sumSq) {
    if (s.finite == 0) return;
    s.mean = sum / s.finite;
    s.std = std::sqrt(std::max(0.0, sumSq / s.finite - s.mean * s.mean));
}

} // namespace

VaeMcResult runVaeMc(torch::jit::Module& bundle, const System2D& system, const Tensor& start,
                     const VaeMcOptions& options) {
    checkFeatures(bundle, start, "VAE Monte Carlo");
    if (start.size(1) != 2)
        throw std::invalid_argument("VAE Monte Carlo on system '" + system.name() +
                                    "': the system has 2 features but the model has " + std::to_string(start.size(1)));
    auto modelPeriodic = bundle.attr("model").toModule().attr("periodic").toBoolList();
    auto sysPeriodic = system.periodic();
    for (size_t i = 0; i < sysPeriodic.size(); i++)
        if (modelPeriodic.get(i) != sysPeriodic[i])
            throw std::invalid_argument("VAE Monte Carlo: the model's periodic features do not match system '" +
                                        system.name() + "' (features " + system.featureKind() + ")");
    if (options.moves < 0) throw std::invalid_argument("VAE Monte Carlo: the number of moves must be >= 0");
    torch::NoGradGuard noGrad;
    torch::manual_seed(options.seed);  // von Mises draws inside decoder_sample use the default generator
    auto gen = at::detail::createCPUGenerator(options.seed);

    const int64_t n = start.size(0), D = start.size(1);
    Tensor periodicMask = torch::zeros({1, D}, torch::kBool);
    for (int64_t i = 0; i < D; i++) periodicMask[0][i] = static_cast<bool>(modelPeriodic.get(i));
    Tensor reference = torch::zeros({n, 1, 3}, torch::kFloat64);

    Tensor x = start.to(torch::kFloat64).contiguous();
    Eval cur = evaluate(bundle, system, x, reference, periodicMask, nullptr);
    x = cur.features;  // canonical branch of the starting features
    Tensor U = cur.energy, lnJ = cur.logJ;

    VaeMcResult r;
    std::vector<Tensor> kept;
    std::array<double, kVaeMcNumTerms> sum{}, sumSq{};
    double tSum = 0, tSumSq = 0;
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    const int64_t L = bundle.attr("model").toModule().attr("latent").toInt();

    for (int64_t m = 0; m < options.moves; m++) {
        // 1. refresh z ~ q(z|x)
        auto [mu, lv] = tuple2(bundle.get_method("encode")({x}));
        Tensor z = mu + torch::exp(0.5 * lv) * torch::randn({n, L}, gen, opts);
        Tensor lnq = bundle.get_method("encoder_log_prob")({z, mu, lv}).toTensor();
        Tensor lnPz = bundle.get_method("prior_log_prob")({z}).toTensor();
        Tensor lnPx = bundle.get_method("decoder_log_prob")({x, z}).toTensor();
        // 2. z' from the prior, 3. x' ~ P(x|z')
        Tensor zp = bundle.get_method("prior_sample")({torch::randn({n, L}, gen, opts)}).toTensor();
        Tensor lnPzp = bundle.get_method("prior_log_prob")({zp}).toTensor();
        Tensor u = torch::rand({n, D}, gen, opts).clamp(1e-300, 1.0 - 1e-16);
        Tensor xp = bundle.get_method("decoder_sample")({zp, u}).toTensor().to(torch::kFloat64);
        Tensor lnPxp = bundle.get_method("decoder_log_prob")({xp, zp}).toTensor();
        auto [mup, lvp] = tuple2(bundle.get_method("encode")({xp}));
        Tensor lnqp = bundle.get_method("encoder_log_prob")({zp, mup, lvp}).toTensor();
        Tensor inDomain;
        Eval prop = evaluate(bundle, system, xp, reference, periodicMask, &inDomain);
        // 4. accept
        VaeMcTerms t{U, prop.energy, lnq, lnqp, lnPz, lnPzp, lnPx, lnPxp, lnJ, prop.logJ};
        VaeMcLogAlpha a = vaeMcLogAlpha(t, options.beta, options.termWeights);
        a.valid = a.valid & inDomain & torch::isfinite(xp).all(1);
        Tensor acc = acceptMoves(a, torch::rand({n}, gen, opts));
        r.attempted += n;
        r.accepted += acc.sum().item<int64_t>();
        r.rejectedNonFinite += (~a.valid).sum().item<int64_t>();
        for (int k = 0; k < kVaeMcNumTerms; k++) accumulate(r.terms[k], sum[k], sumSq[k], a.terms[k]);
        accumulate(r.total, tSum, tSumSq, a.total);
        Tensor acc2 = acc.unsqueeze(1);
        x = torch::where(acc2, xp, x);
        U = torch::where(acc, prop.energy, U);
        lnJ = torch::where(acc, prop.logJ, lnJ);
        if (options.sampleEvery > 0 && (m + 1) % options.sampleEvery == 0) kept.push_back(x.clone());
    }
    for (int k = 0; k < kVaeMcNumTerms; k++) finish(r.terms[k], sum[k], sumSq[k]);
    finish(r.total, tSum, tSumSq);
    r.fAcc = r.attempted > 0 ? static_cast<double>(r.accepted) / r.attempted : 0.0;
    r.finalFeatures = x;
    if (!kept.empty()) r.samples = torch::stack(kept);
    return r;
}

} // namespace VAEPlugin
