#ifndef OPENMM_VAE_TRAINER_TRAIN_CHECKPOINT_H_
#define OPENMM_VAE_TRAINER_TRAIN_CHECKPOINT_H_

#include "EpochLosses.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace VAEPlugin {

/** Checkpoint of one replica: where it stands, the model, the optimizer, the losses so far. */
struct Checkpoint {
    int stage = 0;
    int epoch = 0;  ///< next epoch to run inside the stage (main epochs, then prior epochs)
    std::vector<EpochLosses> rows;
    std::vector<PriorEpochLosses> priorRows;
    nlohmann::json config;
};

/**
 * Writes OUT[/replica-<r>]/checkpoint.pt atomically: the position and losses (as JSON), every
 * parameter and buffer of the model, and Adam's state of the `optimized` parameters (by position).
 */
void saveCheckpoint(const std::string& path, const Checkpoint& checkpoint, const torch::jit::Module& model,
                    torch::optim::Adam& optimizer, const std::vector<torch::Tensor>& optimized);

/** The position, losses and settings of a checkpoint (not its tensors). */
Checkpoint readCheckpoint(const std::string& path);

/** Restores the model's tensors and Adam's state of `optimized` from a checkpoint. */
void loadCheckpointState(const std::string& path, torch::jit::Module& model, torch::optim::Adam& optimizer,
                         const std::vector<torch::Tensor>& optimized);

} // namespace VAEPlugin

#endif
