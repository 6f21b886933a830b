#ifndef OPENMM_VAE_TRAINER_DATA_DATASET_H_
#define OPENMM_VAE_TRAINER_DATA_DATASET_H_

#include "FeatureSpec.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace VAEPlugin {

/** A data set in raw feature units, with where it came from. */
struct Dataset {
    torch::Tensor data;                   ///< [n, D] double, raw feature units
    FeatureSpec features;
    std::string source;                   ///< "system:<name>" or the .npy / DCD path
    std::string system;                   ///< built-in system name, empty for external data
    std::optional<double> temperature;    ///< kelvin, or none (kT-unit systems)
};

/** Generates the data set of a built-in system (samples configurations, reproducible from seed). */
Dataset systemDataset(const std::string& system, int64_t samples, uint64_t seed);

/**
 * Reads an external .npy data set; `features` (xy, polar or positions) says what the columns are.
 * Periodic columns are wrapped into [-pi, pi). Throws std::invalid_argument naming the file.
 */
Dataset npyDataset(const std::string& path, FeatureKind features, const std::vector<int>& periodicColumns,
                   const std::vector<int>& atoms, std::optional<double> temperature);

} // namespace VAEPlugin

#endif
