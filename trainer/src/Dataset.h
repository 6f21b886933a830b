#ifndef OPENMM_VAE_TRAINER_DATASET_H_
#define OPENMM_VAE_TRAINER_DATASET_H_

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * How the atoms' positions become the features the VAE sees (design.md "Feature kinds"):
 *  - "xy": x and y of one particle (atoms has one entry); ln J = 0.
 *  - "polar": r and theta of one particle in the xy plane; theta periodic; ln J = ln r.
 *  - "positions": raw coordinates of the selected atoms, [x0, y0, z0, x1, ...]; ln J = 0.
 */
struct FeatureSpec {
    std::string kind = "xy";
    std::vector<int> atoms{0};            ///< System atom indices, in the order positions are given
    std::vector<bool> periodic;           ///< size numFeatures()
    std::vector<std::string> names;       ///< size numFeatures()
    int numFeatures() const { return static_cast<int>(periodic.size()); }
    /** Builds and validates a spec for `columns` data columns; throws std::invalid_argument. */
    static FeatureSpec make(const std::string& kind, int columns, const std::vector<int>& periodicColumns,
                            const std::vector<int>& atoms);
};

/** Per-feature affine standardisation x_std = (x - mean) / scale; periodic features are left alone. */
struct Standardization {
    std::vector<double> mean, scale;
    /** Mean and standard deviation of each non-periodic column of data ([n, D]). */
    static Standardization fit(const torch::Tensor& data, const std::vector<bool>& periodic);
    torch::Tensor meanTensor() const;
    torch::Tensor scaleTensor() const;
    torch::Tensor apply(const torch::Tensor& x) const;
    /** sum_i ln scale_i: ln P_raw(x) = ln P_std(x_std) - logScaleSum(). */
    double logScaleSum() const;
};

/** A data set in raw feature units, with where it came from. */
struct Dataset {
    torch::Tensor data;                   ///< [n, D] double, raw feature units
    FeatureSpec features;
    std::string source;                   ///< "system:<name>" or the .npy path
    std::string system;                   ///< built-in system name, empty for external data
    std::optional<double> temperature;    ///< kelvin, or none (kT-unit systems)
};

/** Generates the data set of a built-in system (samples configurations, reproducible from seed). */
Dataset systemDataset(const std::string& system, int64_t samples, uint64_t seed);

/** Reads an external .npy data set; `features` says what the columns are. */
Dataset npyDataset(const std::string& path, const std::string& features, const std::vector<int>& periodicColumns,
                   const std::vector<int>& atoms, std::optional<double> temperature);

} // namespace VAEPlugin

#endif
