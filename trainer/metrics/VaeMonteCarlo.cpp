#include "VaeMonteCarlo.h"

#include "Metrics.h"

#include <stdexcept>

namespace VAEPlugin {

using torch::Tensor;

namespace {

/** U(x, y) in kT of the single particle of each configuration [B, 1, 3]. */
Tensor energy(const System2D& system, const Tensor& positions) {
    return system.energy(positions.select(1, 0).slice(1, 0, 2));
}

} // namespace

VAEMCResult runVAEMC(torch::jit::Module& bundle, const System2D& system, const Tensor& start,
                     const VAEMCOptions& options) {
    checkFeatures(bundle, start, "VAE Monte Carlo");
    if (start.size(1) != 2)
        throw std::invalid_argument("VAE Monte Carlo on system '" + system.name() +
                                    "': the system has 2 features but the model has " + std::to_string(start.size(1)));
    auto modelPeriodic = bundle.attr(BundleSchema::Attribute::kModel).toModule().attr(BundleSchema::Model::kPeriodic).toBoolList();
    auto sysPeriodic = system.periodic();
    for (size_t i = 0; i < sysPeriodic.size(); i++)
        if (modelPeriodic.get(i) != sysPeriodic[i])
            throw std::invalid_argument("VAE Monte Carlo: the model's periodic features do not match system '" +
                                        system.name() + "' (features " + featureKindName(system.featureKind()) + ")");
    if (options.moves < 0) throw std::invalid_argument("VAE Monte Carlo: the number of moves must be >= 0");
    torch::NoGradGuard noGrad;
    at::Generator gen = at::detail::createCPUGenerator(options.seed);
    const int64_t n = start.size(0);
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);

    // The chains' configurations: one particle each, z = 0; features canonicalised by the round trip.
    Tensor positions = bundle.get_method(BundleSchema::Method::kPositionsFromFeatures)({start.to(torch::kFloat64).contiguous(),
                                                                     torch::zeros({n, 1, 3}, opts)})
                           .toTensor();
    VAEMCState cur = vaeMCState(bundle, positions);
    Tensor U = energy(system, cur.positions);

    VAEMCResult r;
    VAEMCStatistics stats;
    std::vector<Tensor> kept;
    for (int64_t m = 0; m < options.moves; m++) {
        VAEMCProposal p = proposeVAEMCMove(bundle, cur, gen);
        Tensor Up = energy(system, p.state.positions);
        VAEMCLogAlpha a = vaeMCLogAlpha(cur, p, U, Up, options.beta, options.termWeights);
        Tensor acc = acceptMoves(a, torch::rand({n}, gen, opts));
        stats.add(a, acc);
        Tensor acc2 = acc.unsqueeze(1);
        cur.features = torch::where(acc2, p.state.features, cur.features);
        cur.positions = torch::where(acc2.unsqueeze(2), p.state.positions, cur.positions);
        cur.logJacobian = torch::where(acc, p.state.logJacobian, cur.logJacobian);
        U = torch::where(acc, Up, U);
        if (options.sampleEvery > 0 && (m + 1) % options.sampleEvery == 0) kept.push_back(cur.features.clone());
    }
    r.attempted = stats.attempted();
    r.accepted = stats.accepted();
    r.rejectedNonFinite = stats.rejectedNonFinite();
    for (int k = 0; k < kVAEMCNumTerms; k++) r.terms[k] = stats.term(k);
    r.total = stats.total();
    r.fAcc = r.attempted > 0 ? static_cast<double>(r.accepted) / r.attempted : 0.0;
    r.finalFeatures = cur.features;
    if (!kept.empty()) r.samples = torch::stack(kept);
    return r;
}

} // namespace VAEPlugin
