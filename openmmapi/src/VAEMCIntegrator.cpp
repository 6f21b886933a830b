#include "VAEMCIntegrator.h"
#include "internal/PythonGilRelease.h"
#include "internal/VAEMCIntegratorTestAccess.h"
#include "internal/VAEModelBundle.h"
#include "internal/VAEMonteCarloMove.h"
#include "internal/VaeMcNativeDensities.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include "openmm/internal/ContextImpl.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

using namespace VAEPlugin;
using namespace OpenMM;

namespace {

/** Boltzmann's constant in kJ/(mol K), as OpenMM defines it (R / 1000 with the 2019 SI constants). */
const double kBoltzmann = 1.380649e-23 * 6.02214076e23 / 1000.0;

const char* kName = "VAEMCIntegrator";

/** Default proposals per batched evaluation (bench/README.md, "VAE-MC hybrid": measured on alanine dipeptide). */
const int kDefaultProposalBatchSize = 64;

std::string kindOf(const VAEModelBundle& bundle, torch::jit::Module& module) {
    const nlohmann::json& meta = bundle.getMetadata();
    if (meta.is_object() && meta.contains("features") && meta["features"].is_object() &&
        meta["features"].contains("kind") && meta["features"]["kind"].is_string())
        return meta["features"]["kind"].get<std::string>();
    if (module.hasattr("feature_kind"))
        return module.attr("feature_kind").toStringRef();
    return "";
}

/** The values of a [B] tensor as doubles (one copy per batch, so a move reads plain numbers). */
std::vector<double> hostDoubles(const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

} // namespace

/** Everything of the move that is not a plain parameter: the bundle, the generator, statistics. */
class VAEMCIntegrator::Moves {
public:
    std::shared_ptr<VAEModelBundle> bundle;
    torch::jit::Module module;          // evaluated by the moves; a fresh copy per Context
    std::string kind;
    std::vector<int> atoms;
    int seed = 0;
    at::Generator generator = at::detail::createCPUGenerator(1);
    VaeMcStatistics statistics;
    std::array<double, kVaeMcNumTerms> termWeights = {1, 1, 1, 1, 1};
    long long stepsSinceMoves = 0;
    bool hasVirtualSites = false;
    // the chain's configuration as the moves last saw it, and what was drawn for it
    bool haveState = false;
    VaeMcState state;                 // [1, n, 3] positions, features, ln J
    VaeMcRefresh refresh;             // refreshed z's of `state`, used from nextRefresh on
    std::vector<double> refreshQ, refreshPrior, refreshDecoder;  // its terms, read once per batch
    int64_t nextRefresh = 0, numRefresh = 0;
    int64_t refreshBatch = 0;         // rows of the last refresh of `state` (0: none yet)
    // native state-side densities (null: the bundle's TorchScript methods, batched as above)
    std::unique_ptr<VaeMcNativeDensities> native;
    bool nativeAllowed = true;        // tests only (VAEMCIntegratorTestAccess)
    bool encoded = false;             // native: mu, logvar of `state` computed and its features set
    std::vector<double> mu, logvar;
    VaeMcProposalBatch proposals;     // state-independent proposals, used from nextProposal on
    torch::Tensor proposalsDrawnOn;   // [1, n, 3] the reference they were built on
    std::vector<double> proposalQ, proposalPrior, proposalDecoder, proposalLogJacobian;  // read once per batch
    std::vector<char> proposalAdmissible;
    int64_t nextProposal = 0, numProposals = 0;
    /** Forget everything drawn (proposals, refreshed latents) and the remembered configuration. */
    void discardDraws() {
        haveState = false;
        forgetRefresh();
        numProposals = nextProposal = 0;
    }
    /** The z's drawn for `state` are void (it changed). */
    void forgetRefresh() {
        numRefresh = nextRefresh = refreshBatch = 0;
        encoded = false;
    }
};

VAEMCIntegrator::VAEMCIntegrator(double temperature, double friction, double stepSize, const std::string& model,
                                 int stepsBetweenMoves, int movesPerAttempt)
    : LangevinMiddleIntegrator(temperature, friction, stepSize), moves(new Moves()), proposalBatchSize(kDefaultProposalBatchSize) {
    if (!(temperature > 0) || !std::isfinite(temperature))
        throw OpenMMException(std::string(kName) + ": the temperature must be positive and finite, got " + std::to_string(temperature) + " K");
    if (!(friction >= 0) || !std::isfinite(friction))
        throw OpenMMException(std::string(kName) + ": the friction must be >= 0, got " + std::to_string(friction) + " 1/ps");
    if (!(stepSize > 0) || !std::isfinite(stepSize))
        throw OpenMMException(std::string(kName) + ": the step size must be positive, got " + std::to_string(stepSize) + " ps");
    setStepsBetweenMoves(stepsBetweenMoves);
    setMovesPerAttempt(movesPerAttempt);
    moves->bundle = VAEModelBundle::load(model);
    const std::string& source = moves->bundle->getSource();
    torch::jit::Module module = moves->bundle->createModule();
    moves->kind = kindOf(*moves->bundle, module);
    if (moves->kind == "cartesian")
        throw OpenMMException(std::string(kName) + ": the model from " + source + " has cartesian features, which allow no exact "
                              "move: its decoder density is over coordinates aligned to a reference frame, not over the "
                              "configurations the dynamics visits (science.md section 5). Train with --features bat "
                              "(or positions) for VAE Monte Carlo.");
    if (moves->kind != "xy" && moves->kind != "polar" && moves->kind != "positions" && moves->kind != "bat")
        throw OpenMMException(std::string(kName) + ": the model from " + source + " has feature kind '" + moves->kind +
                              "'; VAE Monte Carlo needs a bundle written by openmm-vae train with features xy, polar, "
                              "positions or bat");
    for (const char* method : {"featurize", "positions_from_features", "encode", "encoder_log_prob", "prior_log_prob",
                               "prior_sample", "decoder_log_prob", "decoder_sample"})
        if (!module.find_method(method))
            throw OpenMMException(std::string(kName) + ": the model from " + source + " has no method " + method +
                                  " (not a bundle written by openmm-vae train)");
    moves->atoms = moves->bundle->getMetadataAtoms();
    if (moves->atoms.empty())
        throw OpenMMException(std::string(kName) + ": the metadata of the model from " + source + " names no atoms");
    if (module.hasattr("num_atoms") && module.attr("num_atoms").toInt() != (int64_t) moves->atoms.size())
        throw OpenMMException(std::string(kName) + ": the model from " + source + " has " +
                              std::to_string(module.attr("num_atoms").toInt()) + " atoms but its metadata lists " +
                              std::to_string(moves->atoms.size()));
}

VAEMCIntegrator::~VAEMCIntegrator() = default;

int VAEMCIntegrator::getStepsBetweenMoves() const { return stepsBetweenMoves; }

void VAEMCIntegrator::setStepsBetweenMoves(int steps) {
    if (steps < 1)
        throw OpenMMException(std::string(kName) + ": stepsBetweenMoves must be >= 1, got " + std::to_string(steps));
    stepsBetweenMoves = steps;
}

int VAEMCIntegrator::getMovesPerAttempt() const { return movesPerAttempt; }

void VAEMCIntegrator::setMovesPerAttempt(int n) {
    if (n < 0)
        throw OpenMMException(std::string(kName) + ": movesPerAttempt must be >= 0, got " + std::to_string(n));
    movesPerAttempt = n;
}

int VAEMCIntegrator::getProposalBatchSize() const { return proposalBatchSize; }

void VAEMCIntegrator::setProposalBatchSize(int size) {
    if (size < 1)
        throw OpenMMException(std::string(kName) + ": the proposal batch size must be >= 1, got " + std::to_string(size));
    proposalBatchSize = size;
    moves->discardDraws();
}

const std::string& VAEMCIntegrator::getModelBytes() const { return moves->bundle->getBytes(); }
const std::string& VAEMCIntegrator::getMetadata() const { return moves->bundle->getMetadataText(); }
const std::vector<int>& VAEMCIntegrator::getAtoms() const { return moves->atoms; }
const std::string& VAEMCIntegrator::getFeatureKind() const { return moves->kind; }
int VAEMCIntegrator::getMoveRandomNumberSeed() const { return moves->seed; }
void VAEMCIntegrator::setMoveRandomNumberSeed(int seed) { moves->seed = seed; }
long long VAEMCIntegrator::getNumAttempted() const { return moves->statistics.attempted(); }
long long VAEMCIntegrator::getNumAccepted() const { return moves->statistics.accepted(); }
long long VAEMCIntegrator::getNumRejectedInvalid() const { return moves->statistics.rejectedNonFinite(); }

double VAEMCIntegrator::getAcceptanceRate() const {
    long long n = getNumAttempted();
    return n > 0 ? static_cast<double>(getNumAccepted()) / n : 0.0;
}

std::vector<std::string> VAEMCIntegrator::getTermNames() {
    return std::vector<std::string>(vaeMcTermNames().begin(), vaeMcTermNames().end());
}

std::vector<double> VAEMCIntegrator::getTermMeans() const {
    std::vector<double> v;
    for (int k = 0; k < kVaeMcNumTerms; k++) v.push_back(moves->statistics.term(k).mean);
    return v;
}

std::vector<double> VAEMCIntegrator::getTermStds() const {
    std::vector<double> v;
    for (int k = 0; k < kVaeMcNumTerms; k++) v.push_back(moves->statistics.term(k).std);
    return v;
}

void VAEMCIntegrator::resetStatistics() { moves->statistics.reset(); }

void VAEMCIntegrator::initialize(ContextImpl& contextRef) {
    // Every check before the base class binds to the Context, so a refused Context leaves this
    // integrator free for another one.
    const System& system = contextRef.getSystem();
    const std::string& source = moves->bundle->getSource();
    const std::string user = std::string(kName);
    moves->bundle->checkSystem(system, user, moves->atoms);
    std::set<int> inBundle(moves->atoms.begin(), moves->atoms.end());
    for (int atom : moves->atoms) {
        if (system.isVirtualSite(atom))
            throw OpenMMException(user + ": the model from " + source + " moves atom " + std::to_string(atom) +
                                  ", which is a virtual site of the System");
        if (system.getParticleMass(atom) == 0.0)
            throw OpenMMException(user + ": the model from " + source + " moves atom " + std::to_string(atom) +
                                  ", which has zero mass (held fixed by OpenMM's integrators)");
    }
    for (int i = 0; i < system.getNumConstraints(); i++) {
        int p1, p2;
        double length;
        system.getConstraintParameters(i, p1, p2, length);
        bool in1 = inBundle.count(p1) > 0, in2 = inBundle.count(p2) > 0;
        if (moves->kind != "bat" && (in1 || in2))
            throw OpenMMException(user + ": the System constrains atoms " + std::to_string(p1) + " and " + std::to_string(p2) +
                                  " (constraint " + std::to_string(i) + "), but the model from " + source + " has " +
                                  moves->kind + " features, whose moves do not keep constraints; use bat features");
        if (in1 != in2)
            throw OpenMMException(user + ": constraint " + std::to_string(i) + " joins atom " + std::to_string(in1 ? p1 : p2) +
                                  " moved by the model from " + source + " to atom " + std::to_string(in1 ? p2 : p1) +
                                  ", which it does not move");
    }
    const nlohmann::json& meta = moves->bundle->getMetadata();
    if (meta.is_object() && meta.contains("temperature") && meta["temperature"].is_number()) {
        double trained = meta["temperature"].get<double>();
        if (std::abs(trained - getTemperature()) > 0.01 * getTemperature())
            std::cerr << "Warning: " << user << ": the model from " << source << " was trained on data at " << trained
                      << " K but the integrator runs at " << getTemperature()
                      << " K; the moves stay exact (the acceptance rule uses the integrator's temperature), only the "
                         "acceptance rate is affected" << std::endl;
    }
    moves->hasVirtualSites = false;
    for (int i = 0; i < system.getNumParticles(); i++)
        moves->hasVirtualSites = moves->hasVirtualSites || system.isVirtualSite(i);
    LangevinMiddleIntegrator::initialize(contextRef);
    moves->module = moves->bundle->createModule();
    moves->native = moves->nativeAllowed ? VaeMcNativeDensities::tryCreate(moves->module) : nullptr;
    uint64_t seed = moves->seed != 0 ? static_cast<uint64_t>(static_cast<uint32_t>(moves->seed))
                                     : (static_cast<uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
    moves->generator = at::detail::createCPUGenerator(seed);
    moves->stepsSinceMoves = 0;
    moves->discardDraws();
}

void VAEMCIntegrator::cleanup() {
    LangevinMiddleIntegrator::cleanup();
    moves->discardDraws();
    moves->module = torch::jit::Module();
    moves->native.reset();
}

void VAEMCIntegrator::step(int steps) {
    if (context == nullptr)
        throw OpenMMException(std::string(kName) + ": this integrator is not bound to a Context");
    if (steps < 0)
        throw OpenMMException(std::string(kName) + ": the number of steps must be >= 0, got " + std::to_string(steps));
    while (steps > 0) {
        int chunk = static_cast<int>(std::min<long long>(steps, stepsBetweenMoves - moves->stepsSinceMoves));
        LangevinMiddleIntegrator::step(chunk);
        steps -= chunk;
        moves->stepsSinceMoves += chunk;
        if (moves->stepsSinceMoves >= stepsBetweenMoves) {
            moves->stepsSinceMoves = 0;
            attemptMoves(movesPerAttempt);
        }
    }
}

void VAEMCIntegrator::attemptMoves(int n) {
    if (n < 0)
        throw OpenMMException(std::string(kName) + ": the number of moves must be >= 0, got " + std::to_string(n));
    if (context == nullptr)
        throw OpenMMException(std::string(kName) + ": this integrator is not bound to a Context");
    if (n == 0)
        return;
    PythonGilRelease gil;  // LibTorch below; the caller may hold Python's GIL
    const std::string& source = moves->bundle->getSource();
    const System& system = context->getSystem();
    std::vector<Vec3> positions;
    context->getPositions(positions);
    for (int i = 0; i < (int) positions.size(); i++)
        if (!std::isfinite(positions[i][0]) || !std::isfinite(positions[i][1]) || !std::isfinite(positions[i][2]))
            throw OpenMMException(std::string(kName) + ": the position of particle " + std::to_string(i) +
                                  " is not finite (NaN or infinity); no VAE move is possible");
    const int groups = getIntegrationForceGroups();
    double energy = context->calcForcesAndEnergy(false, true, groups);
    if (!std::isfinite(energy))
        throw OpenMMException(std::string(kName) + ": the potential energy of the current state is not finite (" +
                              std::to_string(energy) + " kJ/mol)");
    const double beta = 1.0 / (kBoltzmann * getTemperature());
    const int nAtoms = moves->atoms.size();
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    torch::Tensor x = torch::empty({1, nAtoms, 3}, opts);
    auto xa = x.accessor<double, 3>();
    for (int k = 0; k < nAtoms; k++)
        for (int d = 0; d < 3; d++)
            xa[0][k][d] = positions[moves->atoms[k]][d];
    torch::NoGradGuard noGrad;
    Moves& mv = *moves;
    if (!mv.haveState || !torch::equal(x, mv.state.positions)) {
        // a new configuration (dynamics, setPositions): its features; the refreshed z's of the old one are void
        mv.haveState = false;
        mv.forgetRefresh();
        try {
            mv.state = vaeMcState(mv.module, x);
        }
        catch (const std::exception& e) {
            throw OpenMMException(std::string(kName) + ": featurize of the model from " + source + " failed on the current positions: " +
                                  VAEModelBundle::summarizeError(e));
        }
        if (!torch::isfinite(mv.state.features).all().item<bool>() || !torch::isfinite(mv.state.logJacobian).all().item<bool>())
            throw OpenMMException(std::string(kName) + ": the current positions lie outside the feature domain of the model from " +
                                  source + " (non-finite features or ln J)");
        mv.haveState = true;
    }
    bool anyAccepted = false;
    std::vector<Vec3> trial = positions;
    for (int m = 0; m < n; m++) {
        // z ~ q(z|x) first, then the proposal: with a batch size of 1 the random numbers come in the
        // order of proposeVaeMcMove
        double logQCurrent = 0, logPriorCurrent = 0, logDecoderCurrent = 0;
        try {
            if (mv.native) {
                // native: one z per move, no batch to waste; the encoder once per configuration
                if (!mv.encoded) {
                    auto enc = mv.module.get_method("encode")({mv.state.features}).toTuple();
                    mv.mu = hostDoubles(enc->elements()[0].toTensor());
                    mv.logvar = hostDoubles(enc->elements()[1].toTensor());
                    mv.native->setFeatures(hostDoubles(mv.state.features).data());
                    mv.encoded = true;
                }
                const std::vector<double> eps = hostDoubles(torch::randn({1, (int64_t) mv.mu.size()}, mv.generator, opts));
                std::vector<double> z(eps.size());
                for (size_t i = 0; i < z.size(); i++) z[i] = mv.mu[i] + std::exp(0.5 * mv.logvar[i]) * eps[i];
                logQCurrent = mv.native->encoderLogProb(z.data(), mv.mu.data(), mv.logvar.data());
                logPriorCurrent = mv.native->priorLogProb(z.data());
                logDecoderCurrent = mv.native->decoderLogProb(z.data());
            }
            else if (mv.nextRefresh == mv.numRefresh) {
                // z's for a state are drawn in batches: first about as many as the moves a state lasts at
                // the acceptance rate so far (each call costs milliseconds, each row ~50 us), then twice
                // as many as the last batch, up to the proposal batch size
                const double acceptance = (mv.statistics.accepted() + 1.0) / (mv.statistics.attempted() + 2.0);
                const int64_t first = std::max<int64_t>(2, static_cast<int64_t>(std::ceil(1.5 / acceptance)));
                mv.refreshBatch = std::min<int64_t>(proposalBatchSize, mv.refreshBatch == 0 ? first : 2 * mv.refreshBatch);
                mv.numRefresh = std::min<int64_t>(mv.refreshBatch, n - m);
                mv.refresh = refreshVaeMcLatents(mv.module, mv.state.features.expand({mv.numRefresh, -1}), mv.generator);
                mv.refreshQ = hostDoubles(mv.refresh.logQCurrent);
                mv.refreshPrior = hostDoubles(mv.refresh.logPriorCurrent);
                mv.refreshDecoder = hostDoubles(mv.refresh.logDecoderCurrent);
                mv.nextRefresh = 0;
            }
            if (mv.nextProposal == mv.numProposals) {
                mv.numProposals = proposalBatchSize;
                mv.proposalsDrawnOn = mv.state.positions;
                mv.proposals = drawVaeMcProposals(mv.module, mv.state.positions.expand({mv.numProposals, -1, -1}), mv.generator);
                mv.proposalQ = hostDoubles(mv.proposals.logQProposal);
                mv.proposalPrior = hostDoubles(mv.proposals.logPriorProposal);
                mv.proposalDecoder = hostDoubles(mv.proposals.logDecoderProposal);
                mv.proposalLogJacobian = hostDoubles(mv.proposals.state.logJacobian);
                torch::Tensor admissible = mv.proposals.admissible.contiguous();
                mv.proposalAdmissible.assign(admissible.data_ptr<bool>(), admissible.data_ptr<bool>() + admissible.numel());
                mv.nextProposal = 0;
            }
        }
        catch (const std::exception& e) {
            mv.discardDraws();
            throw OpenMMException(std::string(kName) + ": a VAE move with the model from " + source + " failed: " +
                                  VAEModelBundle::summarizeError(e));
        }
        if (!mv.native) {
            const int64_t r = mv.nextRefresh++;
            logQCurrent = mv.refreshQ[r];
            logPriorCurrent = mv.refreshPrior[r];
            logDecoderCurrent = mv.refreshDecoder[r];
        }
        const int64_t k = mv.nextProposal++;
        const VaeMcProposalBatch& b = mv.proposals;
        // U(x') from the Context; a proposal that is not a configuration is never set
        const bool admissible = mv.proposalAdmissible[k];
        double proposalEnergy = std::nan("");
        bool positionsSet = false;
        torch::Tensor proposalPositions;
        if (admissible) {
            try {
                proposalPositions = placeVaeMcProposal(mv.module, b, k, mv.proposalsDrawnOn, mv.state.positions);
            }
            catch (const std::exception& e) {
                mv.discardDraws();
                throw OpenMMException(std::string(kName) + ": a VAE move with the model from " + source + " failed: " +
                                      VAEModelBundle::summarizeError(e));
            }
        }
        if (proposalPositions.defined() && torch::isfinite(proposalPositions).all().item<bool>()) {
            auto xp = proposalPositions.accessor<double, 3>();
            for (int a = 0; a < nAtoms; a++)
                trial[moves->atoms[a]] = Vec3(xp[0][a][0], xp[0][a][1], xp[0][a][2]);
            context->setPositions(trial);
            positionsSet = true;
            try {
                if (moves->hasVirtualSites)
                    context->computeVirtualSites();
                proposalEnergy = context->calcForcesAndEnergy(false, true, groups);
            }
            catch (...) {
                context->setPositions(positions);  // never leave the Context at a proposal
                throw;
            }
        }
        VaeMcLogAlphaValue a = vaeMcLogAlphaValue(energy, proposalEnergy, logQCurrent, mv.proposalQ[k], logPriorCurrent,
                                                  mv.proposalPrior[k], logDecoderCurrent, mv.proposalDecoder[k],
                                                  mv.state.logJacobian.item<double>(), mv.proposalLogJacobian[k], beta,
                                                  moves->termWeights);
        a.valid = a.valid && admissible;
        const double uniform = torch::rand({1}, moves->generator, opts).item<double>();
        const bool accepted = a.valid && std::log(uniform) < a.total;
        moves->statistics.add(a, accepted);
        if (accepted) {
            anyAccepted = true;
            VaeMcState next;
            next.positions = proposalPositions;
            next.features = b.state.features.narrow(0, k, 1);
            next.logJacobian = b.state.logJacobian.narrow(0, k, 1);
            mv.state = next;  // the refreshed z's of the old state are void
            mv.forgetRefresh();
            energy = proposalEnergy;
            positions = trial;
        }
        else if (positionsSet) {
            context->setPositions(positions);  // exactly the state before the proposal
            trial = positions;
        }
    }
    if (anyAccepted) {
        // fresh Maxwell-Boltzmann velocities for the moved atoms, then the constraints' tangent space
        std::vector<Vec3> velocities;
        context->getVelocities(velocities);
        torch::Tensor g = torch::randn({nAtoms, 3}, moves->generator, opts);
        auto ga = g.accessor<double, 2>();
        for (int k = 0; k < nAtoms; k++) {
            int atom = moves->atoms[k];
            double sigma = std::sqrt(kBoltzmann * getTemperature() / system.getParticleMass(atom));
            velocities[atom] = Vec3(ga[k][0], ga[k][1], ga[k][2]) * sigma;
        }
        context->setVelocities(velocities);
        if (system.getNumConstraints() > 0)
            context->applyVelocityConstraints(getConstraintTolerance());
    }
}

// Marks the integrator's part of a Context checkpoint and its layout ("VAEMC" 2: with the move
// statistics); a checkpoint of the first layout is refused by name instead of misread.
static const long long kCheckpointTag = 0x5641454d4302LL;

void VAEMCIntegrator::createCheckpoint(std::ostream& stream) const {
    LangevinMiddleIntegrator::createCheckpoint(stream);
    moves->discardDraws();  // not stored: the run that goes on and the one loaded later draw alike
    torch::Tensor state = moves->generator.get_state().contiguous();
    long long size = state.numel();
    stream.write(reinterpret_cast<const char*>(&kCheckpointTag), sizeof(kCheckpointTag));
    stream.write(reinterpret_cast<const char*>(&moves->stepsSinceMoves), sizeof(moves->stepsSinceMoves));
    stream.write(reinterpret_cast<const char*>(&size), sizeof(size));
    stream.write(reinterpret_cast<const char*>(state.data_ptr<uint8_t>()), size);
    moves->statistics.write(stream);
}

void VAEMCIntegrator::loadCheckpoint(std::istream& stream) {
    LangevinMiddleIntegrator::loadCheckpoint(stream);
    long long tag = 0, steps = 0, size = 0;
    stream.read(reinterpret_cast<char*>(&tag), sizeof(tag));
    if (!stream || tag != kCheckpointTag)
        throw OpenMMException(std::string(kName) + ": the checkpoint holds no VAEMCIntegrator state of this version "
                              "(written by another integrator or an older openmm-vae)");
    stream.read(reinterpret_cast<char*>(&steps), sizeof(steps));
    stream.read(reinterpret_cast<char*>(&size), sizeof(size));
    if (!stream || size <= 0 || size > (1 << 20))
        throw OpenMMException(std::string(kName) + ": the checkpoint holds no valid move generator state");
    torch::Tensor state = torch::empty({size}, torch::kUInt8);
    stream.read(reinterpret_cast<char*>(state.data_ptr<uint8_t>()), size);
    if (!stream)
        throw OpenMMException(std::string(kName) + ": the checkpoint ends inside the move generator state");
    VaeMcStatistics statistics;
    if (!statistics.read(stream))
        throw OpenMMException(std::string(kName) + ": the checkpoint ends inside the move statistics");
    moves->generator.set_state(state);
    moves->stepsSinceMoves = steps;
    moves->statistics = statistics;
    moves->discardDraws();
}

void VAEMCIntegratorTestAccess::setTermWeights(VAEMCIntegrator& integrator, const std::array<double, kVaeMcNumTerms>& weights) {
    integrator.moves->termWeights = weights;
}

void VAEMCIntegratorTestAccess::setNativeDensities(VAEMCIntegrator& integrator, bool allowed) {
    VAEMCIntegrator::Moves& mv = *integrator.moves;
    mv.nativeAllowed = allowed;
    mv.discardDraws();
    mv.native = allowed && integrator.context != nullptr ? VaeMcNativeDensities::tryCreate(mv.module) : nullptr;
}

bool VAEMCIntegratorTestAccess::usesNativeDensities(const VAEMCIntegrator& integrator) {
    return integrator.moves->native != nullptr;
}
