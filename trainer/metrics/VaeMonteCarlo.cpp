#include "VaeMonteCarlo.h"

#include "Metrics.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace VAEPlugin {

using torch::Tensor;

namespace {

/** U(x, y) in kT of the single particle of each configuration [B, 1, 3]. */
Tensor energy(const System2D& system, const Tensor& positions) {
    return system.energy(positions.select(1, 0).slice(1, 0, 2));
}

/** Counts, acceptance and term statistics of a run into its result. */
void addStatistics(const VAEMCStatistics& stats, VAEMCResult& r) {
    r.attempted = stats.attempted();
    r.accepted = stats.accepted();
    r.rejectedNonFinite = stats.rejectedNonFinite();
    for (int k = 0; k < kVAEMCNumTerms; k++) r.terms[k] = stats.term(k);
    r.total = stats.total();
    r.fAcc = r.attempted > 0 ? static_cast<double>(r.accepted) / r.attempted : 0.0;
}

/** A native chain's configuration and energy: the built-in system's U(x, y) of its one particle. */
class System2DTarget : public VAEMCTarget {
public:
    explicit System2DTarget(const System2D& system) : system_(system) {}
    std::vector<double> positions;  ///< [3]: the chain's configuration
    double energy = 0;  ///< U of positions
    /** A chain starts at p ([1, 1, 3]). */
    void start(const Tensor& p) {
        Tensor c = p.to(torch::kFloat64).contiguous();
        positions.assign(c.data_ptr<double>(), c.data_ptr<double>() + 3);
        energy = energyOf(positions);
    }
    double proposalEnergy(const std::vector<double>& p) override {
        proposed_ = p;
        proposedEnergy_ = energyOf(proposed_);
        return proposedEnergy_;
    }
    /** The configuration as [1, 3]. */
    Tensor positionsTensor() const { return torch::tensor(positions, torch::kFloat64).reshape({1, 3}); }
    void keep() override {
        positions = proposed_;
        energy = proposedEnergy_;
    }
    void restore() override {}
private:
    double energyOf(const std::vector<double>& p) const {
        return system_.energy(p[0], p[1]);
    }
    const System2D& system_;
    std::vector<double> proposed_;
    double proposedEnergy_ = 0;
};

/** The chains one after the other through VAEMCChain's native move: their positions every sampleEvery moves and at the end. */
void runNative(VAEMCChain& chain, const System2D& system, const Tensor& positions, const VAEMCOptions& options,
               std::vector<Tensor>& keptPositions, Tensor& finalPositions) {
    const int64_t n = positions.size(0), every = options.sampleEvery > 0 ? options.sampleEvery : options.moves;
    if (options.sampleEvery > 0)
        for (int64_t k = 0; k < options.moves / options.sampleEvery; k++) keptPositions.push_back(torch::empty_like(positions));
    finalPositions = torch::empty_like(positions);
    System2DTarget target(system);
    for (int64_t i = 0; i < n; i++) {
        target.start(positions.slice(0, i, i + 1));
        for (int64_t done = 0; done < options.moves;) {
            const int64_t block = std::min(every, options.moves - done);
            chain.attempt(static_cast<int>(block), target.positions, target.energy, options.beta, 1, target);
            done += block;
            if (options.sampleEvery > 0 && done % options.sampleEvery == 0)
                keptPositions[done / options.sampleEvery - 1][i] = target.positionsTensor();
        }
        finalPositions[i] = target.positionsTensor();
    }
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
    // natively where the bundle allows it: the move the integrator makes, one chain after the other
    std::array<VAEMCStatistics, kVAEMCNumMoveKinds> kindStats;
    VAEMCChain chain(bundle, "the model of the VAE Monte Carlo run", options.seed, kindStats, options.nativeMoves);
    chain.setTermWeights(options.termWeights);
    if (chain.usesNativeMoves()) {
        std::vector<Tensor> keptPositions;
        Tensor finalPositions;
        runNative(chain, system, cur.positions, options, keptPositions, finalPositions);
        r.native = true;
        addStatistics(kindStats[static_cast<int>(VAEMCMoveKind::Full)], r);
        r.finalFeatures = vaeMCState(bundle, finalPositions).features;
        std::vector<Tensor> kept;
        for (const Tensor& p : keptPositions) kept.push_back(vaeMCState(bundle, p).features);
        if (!kept.empty()) r.samples = torch::stack(kept);
        return r;
    }
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
    addStatistics(stats, r);
    r.finalFeatures = cur.features;
    if (!kept.empty()) r.samples = torch::stack(kept);
    return r;
}

} // namespace VAEPlugin
