#ifndef OPENMM_VAE_TRAINER_TRAINING_H_
#define OPENMM_VAE_TRAINER_TRAINING_H_

#include "Dataset.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace VAEPlugin {

class DataParallelGroup;

/** Everything `openmm-vae train` needs (the CLI flags and config-file keys have the same names). */
struct TrainConfig {
    // data
    std::string system;                         ///< built-in system, or empty when data is set
    std::string data;                           ///< .npy file of external data
    std::string trajectory;                     ///< DCD trajectory (with topology), or empty
    std::string topology;                       ///< PDB topology of the trajectory
    std::string atomSelection = "all";          ///< trajectory atoms: all | heavy (unless atoms is set)
    std::string constraints = "hbonds";         ///< bat features: hbonds | none (must match the System)
    std::string features = "xy";                ///< feature kind: xy | polar | positions (.npy); cartesian | bat | positions (trajectory)
    std::vector<int> periodic;                  ///< periodic columns of external data
    std::vector<int> atoms;                     ///< System atom indices of external data (default 0..n-1 / atomSelection)
    std::optional<double> temperature;          ///< kelvin, external data only (metadata)
    int64_t samples = 100000;                   ///< size of a built-in system's generated data set
    // model
    std::string decoder = "mse";
    int latent = 1;
    int hidden = 50;
    int flowHidden = 20;
    // protocol
    std::vector<std::string> betas = {"0", "1", "2", "5", "10"};  ///< as given (names the output folders)
    int epochs = 100;                           ///< epochs per beta
    int anneal = 20;                            ///< annealing epochs at the start of each beta
    int priorEpochs = 100;                      ///< prior-only epochs after beta = 0
    int batch = 200;
    double learningRate = 1e-4;
    double validation = 0.05;                   ///< fraction held out
    uint64_t seed = 1;
    int replicas = 1;                           ///< replica r uses seed + r
    // execution
    int threads = 2;
    std::string device = "cpu";                 ///< cpu | cuda
    std::string dtype = "float32";              ///< training precision: float32 | float64
    std::string out;                            ///< output folder
    bool resume = false;                        ///< continue from OUT's checkpoint
    int stopAfter = -1;                         ///< stop (as if interrupted) after this many epochs; -1: never
    bool quiet = false;                         ///< no progress lines

    /** Checks values and combinations; throws std::invalid_argument with a clear message. */
    void validate() const;
    /** The settings that define the result (everything but execution details), as JSON. */
    nlohmann::json toJson() const;
};

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

/** One row of losses.csv (all in nats per sample, raw feature units). */
struct EpochLosses {
    int epoch = 0;
    double beta = 0, total = 0, recon = 0, kl = 0, valTotal = 0, valRecon = 0, valKl = 0;
    double samplesPerSecond = 0;
};

/** Output folder of one (replica, beta): OUT/beta-<b> with one replica, OUT/replica-<r>/beta-<b> with several. */
std::string stageDirectory(const TrainConfig& config, int replica, const std::string& betaName);
/** Folder holding one replica's checkpoint: OUT or OUT/replica-<r>. */
std::string replicaDirectory(const TrainConfig& config, int replica);

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
 * (model space, training dtype) for tests. With a `group` (Distributed.h) this process is one rank
 * of a data-parallel run: every rank trains on its pieces of each batch, rank 0 alone writes.
 */
torch::jit::Module train(const TrainConfig& config, std::ostream& log, DataParallelGroup* group = nullptr);

/** Loads the data the config names (built-in system, .npy or trajectory). */
Dataset loadDataset(const TrainConfig& config, uint64_t seed);

} // namespace VAEPlugin

#endif
