#ifndef OPENMM_VAE_TRAINER_TRAIN_STAGES_H_
#define OPENMM_VAE_TRAINER_TRAIN_STAGES_H_

#include <string>
#include <vector>

namespace VAEPlugin {

/** One beta stage of the protocol. */
struct Stage {
    std::string name;      ///< beta as given, names the folder beta-<name>
    double beta = 0.0;
    double fromBeta = 0.0; ///< annealing starts here
    bool fresh = false;    ///< a new model starts here
    bool priorFit = false; ///< prior-only fit after the main epochs (beta = 0)
};

/**
 * The stages for a beta list: beta = 0 is a fresh model trained without KL, then the prior alone;
 * the first non-zero beta (at the start, or after a zero) starts a fresh model annealed from 0;
 * every further beta continues the same model, annealed from the previous beta (so 10,1 is reverse
 * annealing). Throws std::invalid_argument for a malformed or negative beta.
 */
std::vector<Stage> planStages(const std::vector<std::string>& betas);

/** Linear annealing: beta_epoch = from + (to - from) * epoch / (A - 1) for epoch < A, then `to`. */
double annealedBeta(double from, double to, int epoch, int annealEpochs);

} // namespace VAEPlugin

#endif
