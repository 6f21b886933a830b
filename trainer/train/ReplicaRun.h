#ifndef OPENMM_VAE_TRAINER_TRAIN_REPLICA_RUN_H_
#define OPENMM_VAE_TRAINER_TRAIN_REPLICA_RUN_H_

#include "Dataset.h"
#include "EpochLosses.h"
#include "ModelConfig.h"
#include "Stages.h"
#include "Standardization.h"
#include "TrainConfig.h"
#include "TrainingMonitor.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace VAEPlugin {

class DataParallelGroup;

/**
 * The whole beta protocol of one replica (seed + replica): the data split and standardisation, a
 * model per fresh stage, the epochs (resumable from OUT[/replica-<r>]/checkpoint.pt after every
 * epoch), and per stage losses.csv, prior_losses.csv, config.json and the bundle model.pt. With a
 * group, this process is one rank of a data-parallel run and writes only as rank 0.
 */
class ReplicaRun {
public:
    /** epochsRun counts the epochs of every replica of the process (for --stop-after). */
    /** `monitor` (may be null) is told of every epoch and asked between batches whether to stop. */
    ReplicaRun(const TrainConfig& config, const Dataset& dataset, int replica, std::ostream& log, int& epochsRun,
               DataParallelGroup* group = nullptr, const TrainingMonitor* monitor = nullptr);
    /** Runs (or resumes) the stages; returns the final model (model space, training dtype). */
    torch::jit::Module run();

private:
    std::string tag(const Stage& stage) const;
    bool allStagesDone() const;
    torch::jit::Module loadFinalModel() const;
    /** The training set in the epoch's order (a seeded shuffle). */
    torch::Tensor shuffledTrainingData(uint64_t epochSeed) const;
    EpochLosses trainEpoch(torch::jit::Module& model, torch::optim::Adam& optimizer, double beta, uint64_t epochSeed);
    /** One epoch of the prior alone: (training loss, validation loss, samples per second). */
    std::array<double, 3> priorEpoch(torch::jit::Module& model, torch::optim::Adam& optimizer, uint64_t epochSeed);
    void printRow(const Stage& stage, const EpochLosses& r, int total);
    /** Tells the monitor (if any) of the epoch just checkpointed; `p` holds its losses, this adds where the run stands. */
    void reportEpoch(int stageIndex, int epoch, EpochProgress p) const;
    /** Throws StoppedEarly when the monitor asks to stop. */
    void stopIfRequested() const;
    nlohmann::json stageConfig(const Stage& stage) const;
    /** Writes DIR/model.pt (BundleWriter.h) with this run's provenance. */
    void exportBundle(const torch::jit::Module& model, const Stage& stage, const std::string& dir,
                      const std::vector<EpochLosses>& rows, const std::vector<PriorEpochLosses>& priorRows);

    const TrainConfig& config_;
    const Dataset& dataset_;
    int replica_;
    std::ostream& log_;
    uint64_t seed_;
    std::vector<Stage> stages_;
    torch::Device device_{torch::kCPU};
    torch::Dtype dtype_;
    Standardization standardization_;
    double logScaleSum_ = 0;
    torch::Tensor train_, val_;
    ModelConfig modelConfig_;
    int& epochsRun_;
    DataParallelGroup* group_;  ///< null: one process
    bool writer_;               ///< writes the outputs (rank 0 of a data-parallel run)
    const TrainingMonitor* monitor_;  ///< null: nobody in-process watches
};

} // namespace VAEPlugin

#endif
