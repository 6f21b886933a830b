#include "VAEMCIntegrator.h"
#include "internal/PythonGilRelease.h"
#include "internal/BundleChecks.h"
#include "internal/VAEMCIntegratorMoves.h"
#include "VAEMCUniformSource.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include "openmm/internal/ContextImpl.h"

#include <cmath>
#include <iostream>
#include <map>
#include <random>
#include <set>

using namespace VAEPlugin;
using namespace OpenMM;

namespace {

/** Boltzmann's constant in kJ/(mol K), as OpenMM defines it (R / 1000 with the 2019 SI constants). */
const double kBoltzmann = 1.380649e-23 * 6.02214076e23 / 1000.0;

const char* kName = "VAEMCIntegrator";

/** Default proposals per batched evaluation (bench/README.md, "VAE-MC hybrid": measured on alanine dipeptide). */
const int kDefaultProposalBatchSize = 64;

/** The bundle's feature kind: its metadata's, else the module's own attribute (bundles without metadata). */
std::string kindOf(const VAEModelBundle& bundle, const NativeModuleTree* tree) {
    if (std::optional<FeatureKind> kind = bundle.getFeatureKind())
        return featureKindName(*kind);
    if (tree != nullptr && tree->has(BundleSchema::Attribute::kFeatureKind))
        return tree->string(BundleSchema::Attribute::kFeatureKind);
    return "";
}

/** The Context as the system a VAE-MC chain moves: proposals set on the bundle's atoms, energies of the integrator's force groups. */
class ContextTarget : public VAEMCTarget {
public:
    ContextTarget(ContextImpl& context, const std::vector<int>& atoms, const std::vector<Vec3>& positions, int groups, bool hasVirtualSites)
        : context(context), atoms(atoms), current(positions), trial(positions), groups(groups), hasVirtualSites(hasVirtualSites) {
    }
    double proposalEnergy(const std::vector<double>& xp) override {
        for (int a = 0; a < (int) atoms.size(); a++)
            trial[atoms[a]] = Vec3(xp[3 * a], xp[3 * a + 1], xp[3 * a + 2]);
        context.setPositions(trial);
        try {
            if (hasVirtualSites)
                context.computeVirtualSites();
            return context.calcForcesAndEnergy(false, true, groups);
        }
        catch (...) {
            context.setPositions(current);  // never leave the Context at a proposal
            throw;
        }
    }
    void keep() override {
        current = trial;
    }
    void restore() override {
        context.setPositions(current);  // exactly the state before the proposal
        trial = current;
    }
private:
    ContextImpl& context;
    const std::vector<int>& atoms;
    std::vector<Vec3> current, trial;
    int groups;
    bool hasVirtualSites;
};

} // namespace

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
    moves->bundle = reportingBundleErrors([&] { return VAEModelBundle::load(model); });
    const std::string& source = moves->bundle->getSource();
    std::string whyNoTree;
    std::shared_ptr<const NativeModuleTree> tree = moves->bundle->getModuleTree(&whyNoTree);
    moves->kind = kindOf(*moves->bundle, tree.get());
    if (moves->kind == featureKindName(FeatureKind::Cartesian))
        throw OpenMMException(std::string(kName) + ": the model from " + source + " has cartesian features, which allow no exact "
                              "move: its decoder density is over coordinates aligned to a reference frame, not over the "
                              "configurations the dynamics visits (science.md section 5). Train with --features bat "
                              "(or positions) for VAE Monte Carlo.");
    std::optional<FeatureKind> kind = parseFeatureKind(moves->kind);
    if (!kind || kind == FeatureKind::Cartesian)
        throw OpenMMException(std::string(kName) + ": the model from " + source + " has feature kind '" + moves->kind +
                              "'; VAE Monte Carlo needs a bundle written by openmm-vae train with features xy, polar, "
                              "positions or bat");
#ifdef OPENMMVAE_WITH_TORCH
    namespace Mt = BundleSchema::Method;
    torch::jit::Module module = moves->bundle->createModule();
    for (const char* method : {Mt::kFeaturize, Mt::kPositionsFromFeatures, Mt::kEncode, Mt::kEncoderLogProb, Mt::kPriorLogProb,
                               Mt::kPriorSample, Mt::kDecoderLogProb, Mt::kDecoderSample})
        if (!module.find_method(method))
            throw OpenMMException(std::string(kName) + ": the model from " + source + " has no method " + method +
                                  " (not a bundle written by openmm-vae train)");
#endif
    moves->atoms = moves->bundle->getMetadataAtoms();
    if (moves->atoms.empty())
        throw OpenMMException(std::string(kName) + ": the metadata of the model from " + source + " names no atoms");
    const char* numAtoms = BundleSchema::Attribute::kNumAtoms;
    if (tree && tree->has(numAtoms) && tree->integer(numAtoms) != (int64_t) moves->atoms.size())
        throw OpenMMException(std::string(kName) + ": the model from " + source + " has " +
                              std::to_string(tree->integer(numAtoms)) + " atoms but its metadata lists " +
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
    if (moves->chain)
        moves->chain->discardDraws();
}

const std::string& VAEMCIntegrator::getModelBytes() const { return moves->bundle->getBytes(); }
const std::string& VAEMCIntegrator::getMetadata() const { return moves->bundle->getMetadataText(); }
const std::vector<int>& VAEMCIntegrator::getAtoms() const { return moves->atoms; }
const std::string& VAEMCIntegrator::getFeatureKind() const { return moves->kind; }
int VAEMCIntegrator::getMoveRandomNumberSeed() const { return moves->seed; }
void VAEMCIntegrator::setMoveRandomNumberSeed(int seed) { moves->seed = seed; }
namespace {

/** The statistics of the move kind `name` (OpenMMException naming the kinds otherwise). */
const VAEMCStatistics& statisticsOf(const std::array<VAEMCStatistics, kVAEMCNumMoveKinds>& statistics, const std::string& name) {
    for (int k = 0; k < kVAEMCNumMoveKinds; k++)
        if (vaeMCMoveKindNames()[k] == name) return statistics[k];
    throw OpenMMException(std::string(kName) + ": no move kind '" + name + "' (the kinds are full and torsion)");
}

double acceptanceRate(const VAEMCStatistics& s) {
    return s.attempted() > 0 ? static_cast<double>(s.accepted()) / s.attempted() : 0.0;
}

std::vector<double> termMeans(const VAEMCStatistics& s) {
    std::vector<double> v;
    for (int k = 0; k < kVAEMCNumTerms; k++) v.push_back(s.term(k).mean);
    return v;
}

std::vector<double> termStds(const VAEMCStatistics& s) {
    std::vector<double> v;
    for (int k = 0; k < kVAEMCNumTerms; k++) v.push_back(s.term(k).std);
    return v;
}

} // namespace

long long VAEMCIntegrator::getNumAttempted() const { return moves->total().attempted(); }
long long VAEMCIntegrator::getNumAccepted() const { return moves->total().accepted(); }
long long VAEMCIntegrator::getNumRejectedInvalid() const { return moves->total().rejectedNonFinite(); }
double VAEMCIntegrator::getAcceptanceRate() const { return acceptanceRate(moves->total()); }

std::vector<std::string> VAEMCIntegrator::getTermNames() {
    return std::vector<std::string>(vaeMCTermNames().begin(), vaeMCTermNames().end());
}

std::vector<double> VAEMCIntegrator::getTermMeans() const { return termMeans(moves->total()); }
std::vector<double> VAEMCIntegrator::getTermStds() const { return termStds(moves->total()); }

void VAEMCIntegrator::resetStatistics() {
    for (VAEMCStatistics& s : moves->statistics) s.reset();
}

std::vector<std::string> VAEMCIntegrator::getMoveKindNames() {
    return std::vector<std::string>(vaeMCMoveKindNames().begin(), vaeMCMoveKindNames().end());
}

long long VAEMCIntegrator::getNumAttempted(const std::string& kind) const { return statisticsOf(moves->statistics, kind).attempted(); }
long long VAEMCIntegrator::getNumAccepted(const std::string& kind) const { return statisticsOf(moves->statistics, kind).accepted(); }
long long VAEMCIntegrator::getNumRejectedInvalid(const std::string& kind) const {
    return statisticsOf(moves->statistics, kind).rejectedNonFinite();
}
double VAEMCIntegrator::getAcceptanceRate(const std::string& kind) const { return acceptanceRate(statisticsOf(moves->statistics, kind)); }
std::vector<double> VAEMCIntegrator::getTermMeans(const std::string& kind) const { return termMeans(statisticsOf(moves->statistics, kind)); }
std::vector<double> VAEMCIntegrator::getTermStds(const std::string& kind) const { return termStds(statisticsOf(moves->statistics, kind)); }

void VAEMCIntegrator::setMoveProbabilities(double fullMoves, double torsionMoves) {
    if (!(fullMoves >= 0) || !std::isfinite(fullMoves) || !(torsionMoves >= 0) || !std::isfinite(torsionMoves))
        throw OpenMMException(std::string(kName) + ": move probabilities must be >= 0 and finite, got full " +
                              std::to_string(fullMoves) + ", torsion " + std::to_string(torsionMoves));
    const double sum = fullMoves + torsionMoves;
    if (!(sum > 0))
        throw OpenMMException(std::string(kName) + ": move probabilities must have a positive sum, got full " +
                              std::to_string(fullMoves) + ", torsion " + std::to_string(torsionMoves));
    const double full = fullMoves / sum, torsion = torsionMoves / sum;
    if (torsion > 0 && moves->kind != featureKindName(FeatureKind::Bat))
        throw OpenMMException(std::string(kName) + ": torsion moves need bat features (bonds, angles, torsions), but the model from " +
                              moves->bundle->getSource() + " has " + moves->kind + " features");
    if (moves->chain) {
        try {
            moves->chain->setMoveProbabilities(full, torsion);
        }
        catch (const VAEMCError& e) {
            throw OpenMMException(std::string(kName) + ": " + e.what());
        }
    }
    moves->fullProbability = full;
    moves->torsionProbability = torsion;
}

double VAEMCIntegrator::getFullMoveProbability() const { return moves->fullProbability; }
double VAEMCIntegrator::getTorsionMoveProbability() const { return moves->torsionProbability; }

void VAEMCIntegrator::initialize(ContextImpl& contextRef) {
    // Every check before the base class binds to the Context, so a refused Context leaves this
    // integrator free for another one.
    const System& system = contextRef.getSystem();
    const std::string& source = moves->bundle->getSource();
    const std::string user = std::string(kName);
    checkBundleFitsSystem(*moves->bundle, system, user, moves->atoms, BundleUse::Moves);
    std::set<int> inBundle(moves->atoms.begin(), moves->atoms.end());
    std::map<int, int> bundlePosition;  // System index -> position in the bundle
    for (int k = 0; k < (int) moves->atoms.size(); k++) bundlePosition[moves->atoms[k]] = k;
    std::map<std::pair<int, int>, double> constrainedLengths;  // the System's lengths, for the proposals
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
        if (moves->kind != featureKindName(FeatureKind::Bat) && (in1 || in2))
            throw OpenMMException(user + ": the System constrains atoms " + std::to_string(p1) + " and " + std::to_string(p2) +
                                  " (constraint " + std::to_string(i) + "), but the model from " + source + " has " +
                                  moves->kind + " features, whose moves do not keep constraints; use bat features");
        if (in1 != in2)
            throw OpenMMException(user + ": constraint " + std::to_string(i) + " joins atom " + std::to_string(in1 ? p1 : p2) +
                                  " moved by the model from " + source + " to atom " + std::to_string(in1 ? p2 : p1) +
                                  ", which it does not move");
        if (in1 && in2) {
            const int a = bundlePosition[p1], b = bundlePosition[p2];
            constrainedLengths[{std::min(a, b), std::max(a, b)}] = length;
        }
    }
    const nlohmann::json& meta = moves->bundle->getMetadata();
    const char* temperatureKey = BundleSchema::Metadata::kTemperature;
    if (meta.is_object() && meta.contains(temperatureKey) && meta[temperatureKey].is_number()) {
        double trained = meta[temperatureKey].get<double>();
        if (std::abs(trained - getTemperature()) > 0.01 * getTemperature())
            std::cerr << "Warning: " << user << ": the model from " << source << " was trained on data at " << trained
                      << " K but the integrator runs at " << getTemperature()
                      << " K; the moves stay exact (the acceptance rule uses the integrator's temperature), only the "
                         "acceptance rate is affected" << std::endl;
    }
    moves->hasVirtualSites = false;
    for (int i = 0; i < system.getNumParticles(); i++)
        moves->hasVirtualSites = moves->hasVirtualSites || system.isVirtualSite(i);
    uint64_t seed = moves->seed != 0 ? static_cast<uint64_t>(static_cast<uint32_t>(moves->seed))
                                     : (static_cast<uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
    std::unique_ptr<VAEMCChain> chain(
        reportingBundleErrors([&] { return new VAEMCChain(*moves->bundle, seed, moves->statistics, moves->nativeAllowed); }));
    if (!VAEModelBundle::hasTorchScript() && !chain->usesNativeMoves())
        throw OpenMMException(user + ": the model from " + source + " has no native moves (its native densities or feature map "
                              "disagree with what its methods computed, or its layout has none), and this build has no LibTorch "
                              "(OPENMMVAE_WITH_TORCH=OFF) for its TorchScript methods");
    chain->setTermWeights(moves->termWeights);
    if (!moves->nativeMovesAllowed)
        chain->setNativeMovesAllowed(false);
    try {
        chain->setConstrainedBondLengths(constrainedLengths);
        chain->setMoveProbabilities(moves->fullProbability, moves->torsionProbability);
    }
    catch (const VAEMCError& e) {
        throw OpenMMException(user + ": " + e.what());
    }
    LangevinMiddleIntegrator::initialize(contextRef);
    moves->chain = std::move(chain);
    moves->stepsSinceMoves = 0;
}

void VAEMCIntegrator::cleanup() {
    LangevinMiddleIntegrator::cleanup();
    moves->chain.reset();
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
    std::vector<double> x(3 * nAtoms);
    for (int k = 0; k < nAtoms; k++)
        for (int d = 0; d < 3; d++)
            x[3 * k + d] = positions[moves->atoms[k]][d];
    ContextTarget target(*context, moves->atoms, positions, groups, moves->hasVirtualSites);
    bool anyAccepted;
    try {
        anyAccepted = moves->chain->attempt(n, x, energy, beta, proposalBatchSize, target) > 0;
    }
    catch (const VAEMCError& e) {
        throw OpenMMException(std::string(kName) + ": " + e.what());
    }
    if (anyAccepted) {
        // fresh Maxwell-Boltzmann velocities for the moved atoms, then the constraints' tangent space
        std::vector<Vec3> velocities;
        context->getVelocities(velocities);
        VAEMCUniformSource random(moves->chain->generator());
        for (int k = 0; k < nAtoms; k++) {
            int atom = moves->atoms[k];
            double sigma = std::sqrt(kBoltzmann * getTemperature() / system.getParticleMass(atom));
            const double gx = random.normal(), gy = random.normal(), gz = random.normal();
            velocities[atom] = Vec3(gx, gy, gz) * sigma;
        }
        context->setVelocities(velocities);
        if (system.getNumConstraints() > 0)
            context->applyVelocityConstraints(getConstraintTolerance());
    }
}

// Marks the integrator's part of a Context checkpoint and its layout ("VAEMC" 3: the move statistics
// of each kind; 2: one set of statistics, all full moves, still read); a checkpoint of the first
// layout is refused by name instead of misread.
static const long long kCheckpointTag = 0x5641454d4303LL, kCheckpointTagOneKind = 0x5641454d4302LL;

void VAEMCIntegrator::createCheckpoint(std::ostream& stream) const {
    LangevinMiddleIntegrator::createCheckpoint(stream);
    moves->chain->discardDraws();  // not stored: the run that goes on and the one loaded later draw alike
    const std::string state = moves->chain->generator().state();
    long long size = state.size();
    stream.write(reinterpret_cast<const char*>(&kCheckpointTag), sizeof(kCheckpointTag));
    stream.write(reinterpret_cast<const char*>(&moves->stepsSinceMoves), sizeof(moves->stepsSinceMoves));
    stream.write(reinterpret_cast<const char*>(&size), sizeof(size));
    stream.write(state.data(), size);
    for (const VAEMCStatistics& statistics : moves->statistics) statistics.write(stream);
}

void VAEMCIntegrator::loadCheckpoint(std::istream& stream) {
    LangevinMiddleIntegrator::loadCheckpoint(stream);
    long long tag = 0, steps = 0, size = 0;
    stream.read(reinterpret_cast<char*>(&tag), sizeof(tag));
    if (!stream || (tag != kCheckpointTag && tag != kCheckpointTagOneKind))
        throw OpenMMException(std::string(kName) + ": the checkpoint holds no VAEMCIntegrator state of this version "
                              "(written by another integrator or an older openmm-vae)");
    stream.read(reinterpret_cast<char*>(&steps), sizeof(steps));
    stream.read(reinterpret_cast<char*>(&size), sizeof(size));
    if (!stream || size <= 0 || size > (1 << 20))
        throw OpenMMException(std::string(kName) + ": the checkpoint holds no valid move generator state");
    std::string state(size, '\0');
    stream.read(&state[0], size);
    if (!stream)
        throw OpenMMException(std::string(kName) + ": the checkpoint ends inside the move generator state");
    std::array<VAEMCStatistics, kVAEMCNumMoveKinds> statistics;
    const int kinds = tag == kCheckpointTag ? kVAEMCNumMoveKinds : 1;  // layout 2: full moves only
    for (int k = 0; k < kinds; k++)
        if (!statistics[k].read(stream))
            throw OpenMMException(std::string(kName) + ": the checkpoint ends inside the move statistics");
    try {
        moves->chain->generator().setState(state);
    }
    catch (const std::invalid_argument& e) {
        throw OpenMMException(std::string(kName) + ": the checkpoint's move generator state is " + e.what() +
                              " (checkpoints move between builds of the same kind only)");
    }
    moves->stepsSinceMoves = steps;
    moves->statistics = statistics;
    moves->chain->discardDraws();
}

