#ifndef OPENMM_VAE_TRAINER_TRAIN_TRAIN_CONFIG_H_
#define OPENMM_VAE_TRAINER_TRAIN_TRAIN_CONFIG_H_

#include "BundleSchema.h"
#include "TrajectoryDataset.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace VAEPlugin {

/** Everything `openmm-vae train` needs (the CLI flags and config-file keys have the same names). */
struct TrainConfig {
    // data: one of system, data, trajectory.path
    std::string system;                         ///< built-in system (--system)
    std::string data;                           ///< .npy file of external data (--data)
    std::vector<int> periodic;                  ///< periodic columns of --data
    /**
     * --trajectory, --topology, --features, --atoms, --constraints, --temperature. Its features
     * (xy | polar | positions for --data; cartesian | bat | positions for a trajectory), atoms
     * (default 0..n-1 / atomSelection) and temperature (kelvin, metadata) describe --data too.
     */
    TrajectoryOptions trajectory{"", "", FeatureKind::XY};
    int64_t samples = 100000;                   ///< size of a built-in system's generated data set
    // model
    DecoderKind decoder = DecoderKind::Mse;
    int latent = 1;
    int hidden = 50;
    int flowHidden = 20;
    int mixture = 1;                            ///< von Mises mixture components K (--mixture; autoregressive only)
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

    /** Checks values and combinations; throws std::invalid_argument naming the flag and the value. */
    void validate() const;
    /** The settings that define the result (everything but execution details), as JSON. */
    nlohmann::json toJson() const;
};

/** Output folder of one (replica, beta): OUT/beta-<b> with one replica, OUT/replica-<r>/beta-<b> with several. */
std::string stageDirectory(const TrainConfig& config, int replica, const std::string& betaName);
/** Folder holding one replica's checkpoint: OUT or OUT/replica-<r>. */
std::string replicaDirectory(const TrainConfig& config, int replica);

} // namespace VAEPlugin

#endif
