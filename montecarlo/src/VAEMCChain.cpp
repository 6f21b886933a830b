#include "VAEMCChain.h"
#include "BundleSchema.h"
#include "VAEMCUniformSource.h"
#include "VAEModelBundle.h"
#include "VAEEncoderSpec.h"

#include <algorithm>
#include <cmath>

namespace VAEPlugin {

namespace {

namespace A = BundleSchema::Attribute;

#ifdef OPENMMVAE_WITH_TORCH
/** The values of a [B] tensor as doubles (one copy per batch, so a move reads plain numbers). */
std::vector<double> hostDoubles(const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}
#endif

std::vector<int> intList(const NativeModuleTree& tree, const char* name) {
    std::vector<int> v;
    for (int64_t i : tree.integers(name)) v.push_back(static_cast<int>(i));
    return v;
}

bool allFinite(const std::vector<double>& v) {
    for (double x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

} // namespace

VAEMCChain::VAEMCChain(const VAEModelBundle& bundle, uint64_t seed, std::array<VAEMCStatistics, kVAEMCNumMoveKinds>& statistics,
                       bool allowNative)
    : tree_(bundle.getModuleTree()), source_(bundle.getSource()), generator_(seed), statistics_(statistics) {
    const int numAtoms = static_cast<int>(bundle.getMetadataAtoms().size());
#ifdef OPENMMVAE_WITH_TORCH
    // the chain's own module, whose methods also give the record (VAEModelBundle::getCheckRecord would load a second copy)
    module_ = bundle.createModule();
    record_ = BundleCheckRecord::fromModule(module_, numAtoms, source_);
#else
    record_ = bundle.getCheckRecord(numAtoms);
#endif
    if (allowNative)
        createNative();
    buildNativeMoves();
}

#ifdef OPENMMVAE_WITH_TORCH
VAEMCChain::VAEMCChain(torch::jit::Module module, const std::string& source, uint64_t seed,
                       std::array<VAEMCStatistics, kVAEMCNumMoveKinds>& statistics, bool allowNative)
    : source_(source), generator_(seed), statistics_(statistics), module_(module) {
    try {
        tree_ = std::make_shared<NativeModuleTree>(NativeModuleTree::fromModule(module_));
        record_ = BundleCheckRecord::fromModule(module_, 0, source_);
    }
    catch (const std::exception&) {  // a foreign module: no native path
        tree_.reset();
    }
    if (allowNative)
        createNative();
    buildNativeMoves();
}
#endif

void VAEMCChain::createNative() {
    native_ = tree_ ? VAEMCNativeDensities::tryCreate(*tree_, record_) : nullptr;
}

VAEMCChain::~VAEMCChain() = default;

void VAEMCChain::buildNativeMoves() {
    featureMap_.reset();
    periodic_.clear();
    firstTorsion_ = -1;
    if (!native_)
        return;
    VAEEncoderSpec spec;
    std::string whyNot;
    // cartesian features have no inverse map (and allow no exact move anyway)
    if (!VAEEncoderSpec::fromTree(*tree_, spec, whyNot) || spec.featureKind == FeatureKind::Cartesian ||
        spec.numFeatures != native_->numFeatures())
        return;
    featureMap_ = std::make_unique<NativeFeatureMap>(spec);
    periodic_.assign(spec.periodic.begin(), spec.periodic.end());
    if (spec.featureKind == FeatureKind::Bat)
        firstTorsion_ = spec.numFeatures - static_cast<int>(spec.batI.size());  // features end with one torsion per row
    if (!constrainedLengths_.empty())
        featureMap_->setConstrainedBondLengths(constrainedLengths_);
}

void VAEMCChain::setNativeDensitiesAllowed(bool allowed) {
    discardDraws();
    if (allowed)
        createNative();
    else
        native_.reset();
    buildNativeMoves();
    if (torsionProbability_ > 0 && !whyNoTorsionMoves().empty())
        setMoveProbabilities(1.0, 0.0);
}

void VAEMCChain::setNativeMovesAllowed(bool allowed) {
    discardDraws();
    nativeMovesAllowed_ = allowed;
    if (torsionProbability_ > 0 && !whyNoTorsionMoves().empty())
        setMoveProbabilities(1.0, 0.0);
}

std::string VAEMCChain::whyNoTorsionMoves() const {
    const std::string kind = tree_ && tree_->has(A::kFeatureKind) ? tree_->string(A::kFeatureKind) : std::string("unknown");
    if (kind != featureKindName(FeatureKind::Bat))
        return "torsion moves need bat features (bonds, angles, torsions), but the model from " + source_ + " has " + kind + " features";
    if (!native_)
        return "torsion moves need the native densities of the model from " + source_ +
               ", which it does not have (a bundle of an older layout, a foreign model, or native values that differ "
               "from its TorchScript methods)";
    if (!native_->decoder().autoregressive())
        return "torsion moves need an autoregressive decoder (the conditional P(x_T | x_BA, z) of the torsions given "
               "bonds and angles), but the decoder of the model from " + source_ + " is not autoregressive";
    if (!featureMap_)
        return "torsion moves need the native feature map of the model from " + source_ + ", which it does not have";
    if (!nativeMovesAllowed_)
        return "torsion moves need native moves, which are switched off";
    if (native_->decoder().firstPeriodicFeature() != firstTorsion_)
        return "the periodic features of the model from " + source_ + " are not its torsions (first periodic feature " +
               std::to_string(native_->decoder().firstPeriodicFeature()) + ", first torsion " + std::to_string(firstTorsion_) + ")";
    return "";
}

void VAEMCChain::setMoveProbabilities(double full, double torsion) {
    (void) full;
    if (torsion > 0) {
        const std::string why = whyNoTorsionMoves();
        if (!why.empty())
            throw VAEMCError(why);
    }
    torsionProbability_ = torsion;
}

void VAEMCChain::setConstrainedBondLengths(const std::map<std::pair<int, int>, double>& lengths) {
    if (!tree_ || !tree_->has(A::kBatI) || !tree_->has(A::kBatBondLength))
        return;
    const std::vector<int> rowI = intList(*tree_, A::kBatI), rowJ = intList(*tree_, A::kBatJ),
                           freeRows = intList(*tree_, A::kBatFreeRows);
    std::vector<double> perRow(rowI.size(), 0.0);
    std::vector<char> isFree(rowI.size(), 0);
    for (int r : freeRows) isFree.at(r) = 1;
    for (size_t r = 0; r < rowI.size(); r++) {
        if (isFree[r]) continue;
        auto it = lengths.find({std::min(rowI[r], rowJ[r]), std::max(rowI[r], rowJ[r])});
        if (it == lengths.end())
            throw VAEMCError("the model from " + source_ + " constrains the bond of atoms " + std::to_string(rowI[r]) + " and " +
                             std::to_string(rowJ[r]) + " (positions in the bundle, bat row " + std::to_string(r) +
                             "), but no length was given for it");
        perRow[r] = it->second;
    }
#ifdef OPENMMVAE_WITH_TORCH
    // the chain's own module copy: its positions_from_features builds the bonds at these lengths
    torch::Tensor old = module_.attr(A::kBatBondLength).toTensor();
    module_.setattr(A::kBatBondLength, torch::tensor(perRow, torch::kFloat64).to(old.dtype()));
#endif
    constrainedLengths_ = perRow;
    if (featureMap_)
        featureMap_->setConstrainedBondLengths(perRow);
    discardDraws();  // proposals drawn ahead were built with the old lengths
}

void VAEMCChain::forgetRefresh() {
#ifdef OPENMMVAE_WITH_TORCH
    numRefresh_ = nextRefresh_ = refreshBatch_ = 0;
    encoded_ = false;
#endif
}

void VAEMCChain::discardDraws() {
    haveNativeState_ = false;
    forgetRefresh();
#ifdef OPENMMVAE_WITH_TORCH
    haveState_ = false;
    numProposals_ = nextProposal_ = 0;
#endif
}

#ifdef OPENMMVAE_WITH_TORCH
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
        const std::vector<double> eps = hostDoubles(torch::randn({1, (int64_t) mu_.size()}, generator_.aten(), opts));
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
        const VAEMCStatistics& full = statistics_[static_cast<int>(VAEMCMoveKind::Full)];
        const double acceptance = (full.accepted() + 1.0) / (full.attempted() + 2.0);
        const int64_t first = std::max<int64_t>(2, static_cast<int64_t>(std::ceil(1.5 / acceptance)));
        refreshBatch_ = std::min<int64_t>(proposalBatchSize, refreshBatch_ == 0 ? first : 2 * refreshBatch_);
        numRefresh_ = std::min<int64_t>(refreshBatch_, remainingMoves);
        refresh_ = refreshVAEMCLatents(module_, state_.features.expand({numRefresh_, -1}), generator_.aten());
        refreshQ_ = hostDoubles(refresh_.logQCurrent);
        refreshPrior_ = hostDoubles(refresh_.logPriorCurrent);
        refreshDecoder_ = hostDoubles(refresh_.logDecoderCurrent);
        nextRefresh_ = 0;
    }
}

void VAEMCChain::drawProposals(int64_t proposalBatchSize) {
    numProposals_ = proposalBatchSize;
    proposalsDrawnOn_ = state_.positions;
    proposals_ = drawVAEMCProposals(module_, state_.positions.expand({numProposals_, -1, -1}), generator_.aten());
    proposalQ_ = hostDoubles(proposals_.logQProposal);
    proposalPrior_ = hostDoubles(proposals_.logPriorProposal);
    proposalDecoder_ = hostDoubles(proposals_.logDecoderProposal);
    proposalLogJacobian_ = hostDoubles(proposals_.state.logJacobian);
    torch::Tensor admissible = proposals_.admissible.contiguous();
    proposalAdmissible_.assign(admissible.data_ptr<bool>(), admissible.data_ptr<bool>() + admissible.numel());
    nextProposal_ = 0;
}

#endif

VAEMCMoveKind VAEMCChain::drawMoveKind() {
    if (torsionProbability_ <= 0) return VAEMCMoveKind::Full;
    if (torsionProbability_ >= 1) return VAEMCMoveKind::Torsion;
    VAEMCUniformSource random(generator_);
    return random.uniform() < torsionProbability_ ? VAEMCMoveKind::Torsion : VAEMCMoveKind::Full;
}

bool VAEMCChain::fillNativeState(NativeState& s) {
    featureMap_->evaluate(s.positions, s.features);
    if (!allFinite(s.features)) return false;
    s.logJacobian = featureMap_->logJacobian(s.features.data());
    s.prepared = native_->decoder().prepare(s.features.data());
    s.mu.resize(native_->latentSize());
    s.logvar.resize(native_->latentSize());
    native_->encoder().encode(s.features.data(), s.mu.data(), s.logvar.data());
    return std::isfinite(s.logJacobian) && allFinite(s.mu) && allFinite(s.logvar);
}

void VAEMCChain::setNativeState(const std::vector<double>& positions) {
    if (haveNativeState_ && positions == nativeState_.positions)
        return;
    haveNativeState_ = false;
    nativeState_.positions = positions;
    bool ok;
    try {
        ok = fillNativeState(nativeState_);
    }
    catch (const std::exception& e) {
        throw VAEMCError("the features of the model from " + source_ + " failed on the current positions: " + e.what());
    }
    if (!ok)
        throw VAEMCError("the current positions lie outside the feature domain of the model from " + source_ +
                         " (non-finite features, ln J or encoder output)");
    haveNativeState_ = true;
}

bool VAEMCChain::nativeMove(VAEMCMoveKind kind, double& energy, double beta, VAEMCTarget& target) {
    const NativeDecoder& decoder = native_->decoder();
    const NativePriorFlow& prior = native_->prior();
    VAEMCUniformSource random(generator_);
    const int L = native_->latentSize(), D = native_->numFeatures();
    const bool torsion = kind == VAEMCMoveKind::Torsion;
    const int first = torsion ? firstTorsion_ : 0;
    const NativeState& s = nativeState_;
    // z ~ q(z|x) and the state's terms (for a torsion move the conditional of the torsions only)
    std::vector<double> z(L), eps(L), zp(L), xp;
    for (int k = 0; k < L; k++) z[k] = s.mu[k] + std::exp(0.5 * s.logvar[k]) * random.normal();
    const double logQ = native_->encoderLogProb(z.data(), s.mu.data(), s.logvar.data());
    const double logPrior = prior.logProb(z.data());
    // z' ~ P(z); x' ~ P(x|z') (torsion move: bonds and angles kept, torsions from the conditional).
    // The decoder's terms of both sides in one call (its base network once for z and z'); the
    // sampler returns ln P(x'|z') of what it drew (of the torsions given the rest, for a torsion move)
    for (int k = 0; k < L; k++) eps[k] = random.normal();
    const double logPriorProposal = prior.sample(eps.data(), zp.data());
    if (torsion)
        xp = s.features;
    else
        xp.resize(D);
    const auto [logDecoder, sampledLogDecoder] = decoder.moveTerms(s.prepared, z.data(), zp.data(), first, random, xp.data());
    // its configuration, re-featurised: the proposal-side terms at the features the chain carries on from
    NativeState next;
    bool admissible = allFinite(xp) && allFinite(zp);
    if (admissible) {
        featureMap_->positionsFromFeatures(xp.data(), s.positions, next.positions);
        admissible = allFinite(next.positions) && fillNativeState(next);
    }
    // outside the feature domain (e.g. r < 0, an angle outside (0, pi)) the round trip does not return x'
    for (int i = 0; admissible && i < D; i++) {
        double d = next.features[i] - xp[i];
        if (periodic_[i]) d = std::atan2(std::sin(d), std::cos(d));
        admissible = std::abs(d) <= 1e-8 * (1.0 + std::abs(xp[i]));
    }
    double logQProposal = std::nan(""), logDecoderProposal = std::nan(""), logJacobianProposal = std::nan(""),
           proposalEnergy = std::nan("");
    bool positionsSet = false;
    if (admissible) {
        logQProposal = native_->encoderLogProb(zp.data(), next.mu.data(), next.logvar.data());
        logDecoderProposal = sampledLogDecoder;
        logJacobianProposal = next.logJacobian;
        positionsSet = true;
        proposalEnergy = target.proposalEnergy(next.positions);
    }
    VAEMCLogAlphaValue a = vaeMCLogAlphaValue(energy, proposalEnergy, logQ, logQProposal, logPrior, logPriorProposal, logDecoder,
                                              logDecoderProposal, s.logJacobian, logJacobianProposal, beta, termWeights_);
    a.valid = a.valid && admissible;
    const bool accept = a.valid && std::log(random.uniform()) < a.total;
    statistics_[static_cast<int>(kind)].add(a, accept);
    if (accept) {
        nativeState_ = std::move(next);
        energy = proposalEnergy;
        target.keep();
    }
    else if (positionsSet)
        target.restore();
    return accept;
}

int64_t VAEMCChain::attempt(int moves, const std::vector<double>& positions, double energy, double beta, int64_t proposalBatchSize,
                            VAEMCTarget& target) {
    if (usesNativeMoves()) {
        setNativeState(positions);
        int64_t accepted = 0;
        for (int m = 0; m < moves; m++) {
            try {
                accepted += nativeMove(drawMoveKind(), energy, beta, target);
            }
            catch (...) {
                haveNativeState_ = false;  // the target's own errors pass unchanged (it restored itself)
                throw;
            }
        }
        return accepted;
    }
#ifdef OPENMMVAE_WITH_TORCH
    const int64_t n = static_cast<int64_t>(positions.size() / 3);
    torch::Tensor p = torch::from_blob(const_cast<double*>(positions.data()), {1, n, 3}, torch::kFloat64).clone();
    return attemptThroughTorchScript(moves, p, energy, beta, proposalBatchSize, target);
#else
    (void) proposalBatchSize;
    throw VAEMCError("the model from " + source_ + " has no native moves (" +
                     (native_ ? std::string("its feature map has no inverse") : std::string("no native densities")) +
                     "), and this build has no LibTorch (OPENMMVAE_WITH_TORCH=OFF) for its TorchScript methods");
#endif
}

#ifdef OPENMMVAE_WITH_TORCH
int64_t VAEMCChain::attemptThroughTorchScript(int moves, const torch::Tensor& positions, double energy, double beta,
                                              int64_t proposalBatchSize, VAEMCTarget& target) {
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
            torch::Tensor flat = proposalPositions.to(torch::kFloat64).contiguous();
            proposalEnergy = target.proposalEnergy(std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()));
        }
        VAEMCLogAlphaValue a = vaeMCLogAlphaValue(energy, proposalEnergy, logQCurrent, proposalQ_[k], logPriorCurrent, proposalPrior_[k],
                                                  logDecoderCurrent, proposalDecoder_[k], state_.logJacobian.item<double>(),
                                                  proposalLogJacobian_[k], beta, termWeights_);
        a.valid = a.valid && admissible;
        const double uniform = torch::rand({1}, generator_.aten(), opts).item<double>();
        const bool accept = a.valid && std::log(uniform) < a.total;
        statistics_[static_cast<int>(VAEMCMoveKind::Full)].add(a, accept);
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
#endif

} // namespace VAEPlugin
