#ifndef OPENMM_VAE_TRAINER_DATASET_H_
#define OPENMM_VAE_TRAINER_DATASET_H_

#include "MolecularFeatures.h"

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
 *  - "cartesian": the selected atoms' coordinates after the rigid translation and rotation that
 *    best fit them (Kabsch, equal weights) onto `reference`; ln J = 0. Rebuilding positions from
 *    features gives the aligned coordinates in the reference's frame (the current orientation is
 *    not kept, so exact VAE-MC moves refuse these bundles; science.md section 5).
 *  - "bat": bond-angle-torsion coordinates over `bat` (see BatTree); torsions periodic.
 */
struct FeatureSpec {
    std::string kind = "xy";
    std::vector<int> atoms{0};            ///< System atom indices, in the order positions are given
    std::vector<bool> periodic;           ///< size numFeatures()
    std::vector<std::string> names;       ///< size numFeatures()
    std::vector<double> reference;        ///< cartesian: reference structure [3 n] nm
    BatTree bat;                          ///< bat: the tree, constrained bonds and their lengths
    std::string constraints;              ///< bat: "hbonds" | "none"
    int numFeatures() const { return static_cast<int>(periodic.size()); }
    /** The "features" object of metadata.json (kind, periodic, names and the kind's parameters). */
    nlohmann::json toJson() const;
    /** A cartesian spec for the System atoms `atoms` and a reference structure ([3 n] nm). */
    static FeatureSpec cartesian(const std::vector<int>& atoms, const std::vector<double>& reference);
    /** A bat spec for the System atoms `atoms` over `tree`. */
    static FeatureSpec makeBat(const std::vector<int>& atoms, const BatTree& tree, const std::string& constraints);
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

/** Where a trajectory data set comes from and how to featurise it (openmm-vae train --trajectory). */
struct TrajectoryOptions {
    std::string trajectory;               ///< DCD file
    std::string topology;                 ///< PDB file
    std::string features = "bat";         ///< cartesian | bat | positions
    std::string atomSelection = "all";    ///< all | heavy (ignored when atoms is set)
    std::vector<int> atoms;               ///< explicit System atom indices
    std::string constraints = "hbonds";   ///< bat: hbonds | none
    std::optional<double> temperature;
};

/**
 * Reads a DCD trajectory with its PDB topology and featurises the selected atoms with the bundle's
 * own featurize method (one definition of each feature map). Bonds for the BAT tree are inferred
 * from the distances in the trajectory's first frame (covalent radii) plus the PDB's CONECT
 * records; constrained bond lengths are the mean over the first 10 frames; the cartesian
 * reference is the mean of all frames after aligning each to the first. Throws
 * std::invalid_argument / std::runtime_error naming the file, atom or index at fault.
 */
Dataset trajectoryDataset(const TrajectoryOptions& options);

/** The atoms that an --atoms value (all | heavy | comma-separated indices) selects among `elements`. */
std::vector<int> selectAtoms(const std::string& selection, const std::vector<int>& explicitAtoms,
                             const std::vector<std::string>& elements);

} // namespace VAEPlugin

#endif
