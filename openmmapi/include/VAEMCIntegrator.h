#ifndef OPENMM_VAE_MC_INTEGRATOR_H_
#define OPENMM_VAE_MC_INTEGRATOR_H_

#include "openmm/LangevinMiddleIntegrator.h"
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * Langevin dynamics mixed with exact VAE-proposed Metropolis Monte Carlo moves (science.md section 5).
 *
 * The dynamics is OpenMM's LangevinMiddleIntegrator, run by the platform's own kernel. After every
 * stepsBetweenMoves steps the integrator makes movesPerAttempt VAE moves of the bundle's atoms: with
 * x the current configuration, z ~ q(z|x), z' ~ P(z), x' ~ P(x|z'), the move is accepted with
 * probability min(1, exp(ln alpha)),
 *
 *   ln alpha = -B [U(x') - U(x)] + ln q(z'|x') - ln q(z|x) + ln P(z) - ln P(z')
 *              + ln P(x|z) - ln P(x'|z') + ln J(x') - ln J(x),        B = 1 / (k_B T),
 *
 * with U the potential energy of the Context (the integration force groups) and T the integrator's
 * temperature. This keeps the Boltzmann distribution exactly whatever the quality of the VAE; the
 * VAE only sets the acceptance rate. A proposal that is not finite or lies outside the feature domain
 * is rejected. The move runs on the host with LibTorch on every platform (positions are copied from
 * the Context, the energy of a proposal is computed by the Context; a rejected proposal restores the
 * positions exactly).
 *
 * Velocities after an accepted move: the velocities of the bundle's atoms are redrawn from the
 * Maxwell-Boltzmann distribution at T with the integrator's own generator, then the velocity
 * constraints are applied. In the target distribution velocities are independent of positions
 * (Maxwell-Boltzmann, restricted to the constraint tangent space where there are constraints), and a
 * rejection depends on positions only; so keeping the velocities on rejection and giving the moved
 * atoms fresh equilibrium velocities on acceptance leaves the joint distribution invariant. (Keeping
 * old velocities after a move would violate the constraints of the new configuration.)
 *
 * Bundles: `openmm-vae train` bundles whose features are coordinates of the moved atoms with a known
 * Jacobian: `xy`, `polar`, `positions`, `bat`. `cartesian` bundles are refused: their decoder density
 * is over coordinates in an aligned reference frame, which is not a density over the configurations
 * the dynamics visits (science.md section 5). For `xy`, `polar` and `positions` no bundle atom may be
 * constrained; for `bat` the System's constraints must match the bundle's (checked when the Context
 * is created). If the bundle metadata names a training temperature that differs from the integrator's
 * by more than 1 %, a warning is printed to stderr when the Context is created: the moves stay exact
 * (the rule uses the integrator's temperature), only the acceptance rate is affected.
 *
 * Batched proposals (setProposalBatchSize): the proposal (z' ~ P(z), x' ~ P(x|z')) does not depend
 * on the chain state, so K proposals are drawn with one batched TorchScript evaluation and used one per
 * move, across rounds of moves and dynamics (they stay valid however the chain moves: for bat the
 * external position and orientation are taken from the current positions by a rigid motion when a
 * proposal is used). Likewise the refreshed z ~ q(z|x) and its terms ln q(z|x), ln P(z), ln P(x|z)
 * are drawn for up to K moves of one configuration x in one batched evaluation, and discarded when x
 * changes (an accepted move, dynamics, setPositions). The move and its statistics are the same as
 * with K = 1 (one proposal per move, drawn when needed); only the cost per move falls, since a
 * TorchScript call costs about the same for one row as for tens.
 *
 * Torsion moves (setMoveProbabilities; science.md section 7, "Partial moves"): with bat features
 * and an autoregressive decoder, a move may keep the bonds and angles x_BA and redraw only the
 * torsions x_T: z ~ q(z|x), z' ~ P(z), x'_T ~ P(x_T | x_BA, z'), accepted with
 *
 *   ln alpha = -B [U(x') - U(x)] + ln q(z'|x') - ln q(z|x) + ln P(z) - ln P(z')
 *              + ln P(x_T | x_BA, z) - ln P(x'_T | x_BA, z')              (J ratio 1).
 *
 * Each move is a full move or a torsion move, chosen at random with fixed probabilities, which
 * keeps the move exact. The proposal depends on the state, so it is drawn per move, natively
 * (the bundle's native densities are required). Statistics are kept per move kind
 * (getMoveKindNames) besides their totals.
 *
 * Native moves: when the bundle's densities, sampler and feature map run natively (bundles written by
 * `openmm-vae train` in the current layout) every move is drawn and evaluated in plain C++ (no
 * TorchScript call, nothing batched); otherwise (older layouts, foreign modules) through the bundle's
 * TorchScript methods as described above. Both are exact.
 *
 * Constrained bonds (bat): proposals put the constrained bonds at the System's constraint lengths
 * (the bundle's tree must constrain the same bonds, to 1e-4 nm of the same lengths; checked when the
 * Context is created), so an accepted proposal satisfies the System's constraints exactly.
 *
 * Random numbers of the moves come from the integrator's own generator (setMoveRandomNumberSeed);
 * the dynamics uses LangevinMiddleIntegrator's seed (setRandomNumberSeed). With both seeds fixed a
 * run on the Reference platform is reproducible for a given proposal batch size. The move generator's
 * state and the step counter are part of Context checkpoints, so a loaded checkpoint continues
 * identically; the buffered proposals and refreshed latents are not stored: creating or loading a
 * checkpoint discards them (both runs then draw fresh batches from the same generator state).
 */
class OPENMM_EXPORT VAEMCIntegrator : public OpenMM::LangevinMiddleIntegrator {
public:
    /**
     * @param temperature        heat bath and Monte Carlo temperature, in kelvin (> 0)
     * @param friction           friction coefficient, in 1/ps (>= 0)
     * @param stepSize           time step, in ps (> 0)
     * @param model              path of a model bundle (*.pt) written by `openmm-vae train`, or its
     *                           bytes (a string starting with the zip signature); copied into the
     *                           integrator
     * @param stepsBetweenMoves  Langevin steps between two rounds of moves (>= 1)
     * @param movesPerAttempt    VAE moves made in each round (>= 0; 0 is plain Langevin dynamics)
     * Throws OpenMMException for bad arguments, an unreadable bundle or a feature kind that allows
     * no exact move.
     */
    VAEMCIntegrator(double temperature, double friction, double stepSize, const std::string& model,
                    int stepsBetweenMoves = 100, int movesPerAttempt = 1);
    ~VAEMCIntegrator();
    /**
     * Advance by `steps` Langevin steps, with movesPerAttempt moves after every stepsBetweenMoves
     * steps (counted across calls: step(1) a hundred times makes as many moves as step(100)).
     */
    void step(int steps);
    /** Make n VAE moves now, without dynamics (pure Monte Carlo). Throws OpenMMException for n < 0. */
    void attemptMoves(int n);
    /** Langevin steps between two rounds of moves. */
    int getStepsBetweenMoves() const;
    /** Set the Langevin steps between two rounds of moves (>= 1). */
    void setStepsBetweenMoves(int steps);
    /** VAE moves made in each round. */
    int getMovesPerAttempt() const;
    /** Set the VAE moves made in each round (>= 0). */
    void setMovesPerAttempt(int moves);
    /**
     * Proposals drawn per batched evaluation of the bundle (see the class comment; the TorchScript
     * path only: native moves draw each proposal when its move is made); 1 draws each
     * proposal when its move is made. Default 64 (on alanine dipeptide with an autoregressive BAT
     * bundle a move costs about 10x less than with 1; bench/README.md, "VAE-MC hybrid").
     */
    int getProposalBatchSize() const;
    /** Set the proposal batch size (>= 1); discards buffered proposals. */
    void setProposalBatchSize(int size);
    /** The bytes of the model bundle. */
    const std::string& getModelBytes() const;
    /** The bundle metadata (JSON text). */
    const std::string& getMetadata() const;
    /** The System indices of the atoms the moves change, in the bundle's order. */
    const std::vector<int>& getAtoms() const;
    /** The bundle's feature kind (xy, polar, positions or bat). */
    const std::string& getFeatureKind() const;
    /** Seed of the move generator; 0 (the default) picks a different seed for every Context. */
    int getMoveRandomNumberSeed() const;
    /** Set the seed of the move generator; takes effect when a Context is created. */
    void setMoveRandomNumberSeed(int seed);
    /** Moves attempted since construction or resetStatistics(). */
    long long getNumAttempted() const;
    /** Moves accepted since construction or resetStatistics(). */
    long long getNumAccepted() const;
    /** Moves rejected because the proposal was not finite or outside the feature domain. */
    long long getNumRejectedInvalid() const;
    /** getNumAccepted() / getNumAttempted() (0 before any move). */
    double getAcceptanceRate() const;
    /** Names of the terms of ln alpha: energy, encoder, prior, decoder, jacobian. */
    static std::vector<std::string> getTermNames();
    /** Mean of each term of ln alpha over the attempted moves where it was finite (getTermNames order). */
    std::vector<double> getTermMeans() const;
    /** Standard deviation of each term of ln alpha over the attempted moves where it was finite. */
    std::vector<double> getTermStds() const;
    /** Set the move counters and term statistics to zero (of every move kind). */
    void resetStatistics();
    /**
     * Set the probabilities with which a move is a full move or a torsion move (see the class
     * comment). Both >= 0 and finite with a positive sum; they are normalised. Torsion moves (> 0)
     * need a bat bundle whose decoder is autoregressive and whose native densities are available:
     * the feature kind is checked here, the rest when a Context is created (or here, when the
     * integrator is bound to one); OpenMMException saying why otherwise (the probabilities are then
     * unchanged). Default: full moves only (1, 0).
     */
    void setMoveProbabilities(double fullMoves, double torsionMoves);
    /** Probability that a move is a full move. */
    double getFullMoveProbability() const;
    /** Probability that a move is a torsion move. */
    double getTorsionMoveProbability() const;
    /** Names of the move kinds: full, torsion (the moveKind arguments below). */
    static std::vector<std::string> getMoveKindNames();
    /** Moves of one kind attempted since construction or resetStatistics(). OpenMMException for an unknown kind. */
    long long getNumAttempted(const std::string& moveKind) const;
    /** Moves of one kind accepted. */
    long long getNumAccepted(const std::string& moveKind) const;
    /** Moves of one kind rejected because the proposal was not finite or outside the feature domain. */
    long long getNumRejectedInvalid(const std::string& moveKind) const;
    /** Acceptance rate of one kind (0 before any move of it). */
    double getAcceptanceRate(const std::string& moveKind) const;
    /** Mean of each term of ln alpha over the attempted moves of one kind where it was finite. */
    std::vector<double> getTermMeans(const std::string& moveKind) const;
    /** Standard deviation of each term of ln alpha over the attempted moves of one kind where it was finite. */
    std::vector<double> getTermStds(const std::string& moveKind) const;
protected:
    void initialize(OpenMM::ContextImpl& context);
    void cleanup();
    /** Context checkpoints carry, after the Langevin part, the move generator, the steps since the
     *  last round of moves and the move statistics of each kind, so a restored run continues bit for bit. */
    void createCheckpoint(std::ostream& stream) const;
    void loadCheckpoint(std::istream& stream);
private:
    friend class VAEMCIntegratorTestAccess;
    class Moves;
    std::unique_ptr<Moves> moves;
    int stepsBetweenMoves, movesPerAttempt, proposalBatchSize;
};

} // namespace VAEPlugin

#endif
