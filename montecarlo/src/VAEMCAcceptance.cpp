#include "VAEMCAcceptance.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace VAEPlugin {

#ifdef OPENMMVAE_WITH_TORCH
using torch::Tensor;

namespace {

Tensor d(const Tensor& t) {
    if (!t.defined()) throw std::invalid_argument("vaeMCLogAlpha: a term of ln alpha is missing");
    return t.to(torch::kFloat64).reshape({-1});
}

} // namespace
#endif

const std::array<std::string, kVAEMCNumTerms>& vaeMCTermNames() {
    static const std::array<std::string, kVAEMCNumTerms> names = {"energy", "encoder", "prior", "decoder", "jacobian"};
    return names;
}

VAEMCLogAlphaValue vaeMCLogAlphaValue(double uC, double uP, double qC, double qP, double pC, double pP, double xC,
                                      double xP, double jC, double jP, double beta,
                                      const std::array<double, kVAEMCNumTerms>& w) {
    VAEMCLogAlphaValue a;
    a.terms = {-beta * (uP - uC), qP - qC, pC - pP, xC - xP, jP - jC};
    a.total = 0;
    for (int k = 0; k < kVAEMCNumTerms; k++) a.total += w[k] * a.terms[k];
    a.valid = std::isfinite(uP) && std::isfinite(qP) && std::isfinite(pP) && std::isfinite(xP) && std::isfinite(jP) &&
              !std::isnan(a.total);
    return a;
}

#ifdef OPENMMVAE_WITH_TORCH
VAEMCLogAlpha vaeMCLogAlpha(const VAEMCTerms& t, double beta, const std::array<double, kVAEMCNumTerms>& w) {
    const std::array<Tensor, 10> in = {d(t.energyCurrent), d(t.energyProposal), d(t.logQCurrent), d(t.logQProposal),
                                       d(t.logPriorCurrent), d(t.logPriorProposal), d(t.logDecoderCurrent),
                                       d(t.logDecoderProposal), d(t.logJacobianCurrent), d(t.logJacobianProposal)};
    const int64_t n = in[0].numel();
    for (const Tensor& v : in)
        if (v.numel() != n) throw std::invalid_argument("vaeMCLogAlpha: the terms of ln alpha differ in length");
    std::array<Tensor, 10> c;
    for (int i = 0; i < 10; i++) c[i] = in[i].contiguous();
    VAEMCLogAlpha a;
    for (int k = 0; k < kVAEMCNumTerms; k++) a.terms[k] = torch::empty({n}, torch::kFloat64);
    a.total = torch::empty({n}, torch::kFloat64);
    a.valid = torch::empty({n}, torch::kBool);
    for (int64_t r = 0; r < n; r++) {
        auto v = [&](int i) { return c[i].data_ptr<double>()[r]; };
        VAEMCLogAlphaValue one = vaeMCLogAlphaValue(v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), beta, w);
        for (int k = 0; k < kVAEMCNumTerms; k++) a.terms[k].data_ptr<double>()[r] = one.terms[k];
        a.total.data_ptr<double>()[r] = one.total;
        a.valid.data_ptr<bool>()[r] = one.valid;
    }
    return a;
}
#endif

double vaeMCLogAlpha(double energyCurrent, double energyProposal, double logQCurrent, double logQProposal,
                     double logPriorCurrent, double logPriorProposal, double logDecoderCurrent,
                     double logDecoderProposal, double logJacobianCurrent, double logJacobianProposal, double beta,
                     std::array<double, kVAEMCNumTerms>* terms) {
    VAEMCLogAlphaValue a = vaeMCLogAlphaValue(energyCurrent, energyProposal, logQCurrent, logQProposal, logPriorCurrent,
                                              logPriorProposal, logDecoderCurrent, logDecoderProposal,
                                              logJacobianCurrent, logJacobianProposal, beta);
    if (terms) *terms = a.terms;
    return a.valid ? a.total : -std::numeric_limits<double>::infinity();
}

#ifdef OPENMMVAE_WITH_TORCH
Tensor acceptMoves(const VAEMCLogAlpha& a, const Tensor& uniform) {
    return a.valid & (torch::log(uniform.to(torch::kFloat64).reshape({-1})) < a.total);
}
#endif

} // namespace VAEPlugin
