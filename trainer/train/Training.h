#ifndef OPENMM_VAE_TRAINER_TRAIN_TRAINING_H_
#define OPENMM_VAE_TRAINER_TRAIN_TRAINING_H_

/**
 * `openmm-vae train` as a library: the protocol of TrainConfig run for every replica (ReplicaRun),
 * and the process settings it needs (threads, TorchScript executor).
 */

#include "Dataset.h"
#include "TrainConfig.h"
#include "TrainingMonitor.h"

#include <torch/script.h>

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>

namespace VAEPlugin {

class DataParallelGroup;

/**
 * Sets OpenBLAS's threads (resolved at run time) to n and LibTorch's intra-op threads to 1 (see
 * trainer/README.md, Threads); VAE_TORCH_THREADS / VAE_BLAS_THREADS override them (measurements).
 */
void setThreads(int n);

/**
 * Switches TorchScript to the simple executor (no profiling, no graph optimisation), which keeps
 * results independent of how many times a method ran before (resume == uninterrupted). train()
 * calls it; VAE_JIT=profiling in the environment keeps LibTorch's default executor.
 */
void configureJit();

/** Thrown when stopAfter epochs have run; the checkpoint holds the state to resume from. */
struct StoppedEarly : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/**
 * Runs the whole protocol for every replica and writes the outputs (bundle, losses.csv, config.json
 * per beta). Progress goes to `log` (unless quiet). Returns the final model of the last replica
 * (model space, training dtype) for tests. With a `group` (DataParallelGroup.h) this process is one
 * rank of a data-parallel run: every rank trains on its pieces of each batch, rank 0 alone writes.
 * A `monitor` (TrainingMonitor.h) is told of every epoch and may stop the run at a checkpoint.
 */
torch::jit::Module train(const TrainConfig& config, std::ostream& log, DataParallelGroup* group = nullptr,
                         const TrainingMonitor* monitor = nullptr);

/** Loads the data the config names (built-in system, .npy or trajectory). */
Dataset loadDataset(const TrainConfig& config, uint64_t seed);

/** The time now in UTC, ISO 8601 ("2024-05-01T12:00:00Z"), for provenance and done markers. */
std::string utcTimestamp();

} // namespace VAEPlugin

#endif
