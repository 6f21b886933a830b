#include "VAEMCChain.h"
#include "BundleSchema.h"
#include "VAEModelBundle.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

namespace VAEPlugin {

namespace {

/** The values of a [B] tensor as doubles (one copy per batch, so a move reads plain numbers). */
std::vector<double> hostDoubles(const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

} // namespace

VAEMCChain::VAEMCChain(torch::jit::Module module, const std::string& source, uint64_t seed, VAEMCStatistics& statistics,
                       bool allowNative)
    : module_(module), source_(source), generator_(at::detail::createCPUGenerator(seed)), statistics_(statistics) {
    if (allowNative)
        native_ = VAEMCNativeDensities::tryCreate(module_);
}

void VAEMCChain::setNativeDensitiesAllowed(bool allowed) {
    discardDraws();
    native_ = allowed ? VAEMCNativeDensities::tryCreate(module_) : nullptr;
}

void VAEMCChain::forgetRefresh() {
    numRefresh_ = nextRefresh_ = refreshBatch_ = 0;
    encoded_ = false;
}

void VAEMCChain::discardDraws() {
    haveState_ = false;
    forgetRefresh();
    numProposals_ = nextProposal_ = 0;
}

void VAEMCChain::setState(const torch::Tensor& positions) {
    if (haveState_ && torch::equal(positions, state_.positions))
        return;
    // a new configuration (dynamics, setPositions): its features; the refreshed z's of the old one are void
    haveState_ = false;
    forgetRefresh();
    try {
        state_ = vaeMCState(module_, positions);
    }
    catch (const std::exception& e) {
        throw VAEMCError("featurize of the model from " + source_ + " failed on the current positions: " + VAEModelBundle::summarizeError(e));
    }
    if (!torch::isfinite(state_.features).all().item<bool>() || !torch::isfinite(state_.logJacobian).all().item<bool>())
        throw VAEMCError("the current positions lie outside the feature domain of the model from " + source_ +
                         " (non-finite features or ln J)");
    haveState_ = true;
}

void VAEMCChain::drawStateTerms(int remainingMoves, int64_t proposalBatchSize, double& logQ, double& logPrior, double& logDecoder) {
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    if (native_) {
        // native: one z per move, no batch to waste; the encoder once per configuration
        if (!encoded_) {
            auto enc = module_.get_method(BundleSchema::Method::kEncode)({state_.features}).toTuple();
            mu_ = hostDoubles(enc->elements()[0].toTensor());
            logvar_ = hostDoubles(enc->elements()[1].toTensor());
            native_->setFeatures(hostDoubles(state_.features).data());
            encoded_ = true;
        }
        const std::vector<double> eps = hostDoubles(torch::randn({1, (int64_t) mu_.size()}, generator_, opts));
        std::vector<double> z(eps.size());
        for (size_t i = 0; i < z.size(); i++) z[i] = mu_[i] + std::exp(0.5 * logvar_[i]) * eps[i];
        logQ = native_->encoderLogProb(z.data(), mu_.data(), logvar_.data());
        logPrior = native_->priorLogProb(z.data());
        logDecoder = native_->decoderLogProb(z.data());
        return;
    }
    if (nextRefresh_ == numRefresh_) {
        // z's for a state are drawn in batches: first about as many as the moves a state lasts at the
        // acceptance rate so far (each call costs milliseconds, each row ~50 us), then twice as many as
        // the last batch, up to the proposal batch size
        const double acceptance = (statistics_.accepted() + 1.0) / (statistics_.attempted() + 2.0);
        const int64_t first = std::max<int64_t>(2, static_cast<int64_t>(std::ceil(1.5 / acceptance)));
        refreshBatch_ = std::min<int64_t>(proposalBatchSize, refreshBatch_ == 0 ? first : 2 * refreshBatch_);
        numRefresh_ = std::min<int64_t>(refreshBatch_, remainingMoves);
        refresh_ = refreshVAEMCLatents(module_, state_.features.expand({numRefresh_, -1}), generator_);
        refreshQ_ = hostDoubles(refresh_.logQCurrent);
        refreshPrior_ = hostDoubles(refresh_.logPriorCurrent);
        refreshDecoder_ = hostDoubles(refresh_.logDecoderCurrent);
        nextRefresh_ = 0;
    }
}

void VAEMCChain::drawProposals(int64_t proposalBatchSize) {
    numProposals_ = proposalBatchSize;
    proposalsDrawnOn_ = state_.positions;
    proposals_ = drawVAEMCProposals(module_, state_.positions.expand({numProposals_, -1, -1}), generator_);
    proposalQ_ = hostDoubles(proposals_.logQProposal);
    proposalPrior_ = hostDoubles(proposals_.logPriorProposal);
    proposalDecoder_ = hostDoubles(proposals_.logDecoderProposal);
    proposalLogJacobian_ = hostDoubles(proposals_.state.logJacobian);
    torch::Tensor admissible = proposals_.admissible.contiguous();
    proposalAdmissible_.assign(admissible.data_ptr<bool>(), admissible.data_ptr<bool>() + admissible.numel());
    nextProposal_ = 0;
}

int64_t VAEMCChain::attempt(int moves, const torch::Tensor& positions, double energy, double beta, int64_t proposalBatchSize,
                            VAEMCTarget& target) {
    torch::NoGradGuard noGrad;
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    setState(positions);
    int64_t accepted = 0;
    for (int m = 0; m < moves; m++) {
        // z ~ q(z|x) first, then the proposal: with a batch size of 1 the random numbers come in the
        // order of proposeVAEMCMove
        double logQCurrent = 0, logPriorCurrent = 0, logDecoderCurrent = 0;
        try {
            drawStateTerms(moves - m, proposalBatchSize, logQCurrent, logPriorCurrent, logDecoderCurrent);
            if (nextProposal_ == numProposals_)
                drawProposals(proposalBatchSize);
        }
        catch (const std::exception& e) {
            discardDraws();
            throw VAEMCError("a VAE move with the model from " + source_ + " failed: " + VAEModelBundle::summarizeError(e));
        }
        if (!native_) {
            const int64_t r = nextRefresh_++;
            logQCurrent = refreshQ_[r];
            logPriorCurrent = refreshPrior_[r];
            logDecoderCurrent = refreshDecoder_[r];
        }
        const int64_t k = nextProposal_++;
        // U(x') from the target; a proposal that is not a configuration is never set
        const bool admissible = proposalAdmissible_[k];
        double proposalEnergy = std::nan("");
        bool positionsSet = false;
        torch::Tensor proposalPositions;
        if (admissible) {
            try {
                proposalPositions = placeVAEMCProposal(module_, proposals_, k, proposalsDrawnOn_, state_.positions);
            }
            catch (const std::exception& e) {
                discardDraws();
                throw VAEMCError("a VAE move with the model from " + source_ + " failed: " + VAEModelBundle::summarizeError(e));
            }
        }
        if (proposalPositions.defined() && torch::isfinite(proposalPositions).all().item<bool>()) {
            positionsSet = true;
            proposalEnergy = target.proposalEnergy(proposalPositions);
        }
        VAEMCLogAlphaValue a = vaeMCLogAlphaValue(energy, proposalEnergy, logQCurrent, proposalQ_[k], logPriorCurrent, proposalPrior_[k],
                                                  logDecoderCurrent, proposalDecoder_[k], state_.logJacobian.item<double>(),
                                                  proposalLogJacobian_[k], beta, termWeights_);
        a.valid = a.valid && admissible;
        const double uniform = torch::rand({1}, generator_, opts).item<double>();
        const bool accept = a.valid && std::log(uniform) < a.total;
        statistics_.add(a, accept);
        if (accept) {
            accepted++;
            VAEMCState next;
            next.positions = proposalPositions;
            next.features = proposals_.state.features.narrow(0, k, 1);
            next.logJacobian = proposals_.state.logJacobian.narrow(0, k, 1);
            state_ = next;  // the refreshed z's of the old state are void
            forgetRefresh();
            energy = proposalEnergy;
            target.keep();
        }
        else if (positionsSet)
            target.restore();
    }
    return accepted;
}

} // namespace VAEPlugin
