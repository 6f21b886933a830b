#ifndef OPENMM_VAE_TRAINER_TRAIN_TRAINING_MONITOR_H_
#define OPENMM_VAE_TRAINER_TRAIN_TRAINING_MONITOR_H_

#include <functional>
#include <string>

namespace VAEPlugin {

/** Where a run stands after one epoch (of a stage's VAE epochs or of its prior-only epochs). */
struct EpochProgress {
    int replica = 0, replicas = 1;
    std::string stage;            ///< the beta as given ("0", "1", ...)
    int stageIndex = 0, stages = 1;
    bool prior = false;           ///< a prior-only epoch (after beta = 0)
    int epoch = 0, epochs = 0;    ///< 1-based epoch of this stage, and the stage's epochs (prior-only ones included)
    long long runEpochsDone = 0, runEpochs = 0;  ///< epochs of the whole run (every replica and stage) done / in all
    double beta = 0;              ///< annealed beta of the epoch (prior epochs: the stage's)
    double loss = 0, validationLoss = 0;  ///< -ELBO (prior epochs: -ln P(z)) per sample, training and held-out
    double samplesPerSecond = 0;
};

/**
 * Hooks of an in-process caller (the Python API): both are optional. `epochDone` runs after the
 * epoch's checkpoint is written, so whatever it throws leaves a resumable run; `stopRequested` is
 * polled between batches, and a true answer ends the run as --stop-after does (StoppedEarly), at the
 * last checkpoint.
 */
struct TrainingMonitor {
    std::function<void(const EpochProgress&)> epochDone;
    std::function<bool()> stopRequested;
};

} // namespace VAEPlugin

#endif
