#ifndef OPENMM_VAE_TRAINER_DATA_TRAJECTORY_DATASET_H_
#define OPENMM_VAE_TRAINER_DATA_TRAJECTORY_DATASET_H_

#include "Dataset.h"

#include <torch/script.h>

#include <optional>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * What external data to read and how to featurise it (openmm-vae train --trajectory ...). The
 * trajectory fields (path, topology, atomSelection, constraints) are used with --trajectory only;
 * features, atoms and temperature describe --data columns too (TrainConfig::data).
 */
struct TrajectoryOptions {
    std::string path;                     ///< DCD file, or .npy positions in nm [frames, atoms, 3] (--trajectory)
    std::string topology;                 ///< PDB file (--topology)
    FeatureKind features = FeatureKind::Bat;  ///< cartesian | bat | positions (--features)
    std::string atomSelection = "all";    ///< all | heavy (ignored when atoms is set)
    std::vector<int> atoms;               ///< explicit System atom indices (--atoms)
    std::string constraints = "hbonds";   ///< bat: hbonds | none (--constraints)
    std::string rotors = "auto";          ///< bat: auto (rotor multiplicities from the topology) | none (all 1) (--rotors)
    std::optional<double> temperature;    ///< kelvin (--temperature; metadata only)
};

/**
 * Reads a DCD trajectory (or a .npy array of positions in nm, readNpyPositions) with its PDB topology and featurises the selected atoms with the bundle's
 * own featurize method (FeatureMaps.h: one definition of each feature map). Bonds for the BAT tree
 * are inferred from the distances in the trajectory's first frame (covalent radii) plus the PDB's
 * CONECT records; rotors (their torsions' multiplicity) from those bonds unless rotors is "none"; constrained bond lengths are the mean over the first 10 frames; the cartesian
 * reference is the mean of all frames after aligning each to the first. Throws
 * std::invalid_argument / std::runtime_error naming the file, atom or index at fault.
 */
Dataset trajectoryDataset(const TrajectoryOptions& options);

/** Positions [frames, atoms, 3] (nm, float64) of a DCD file (readDcd) or a .npy file (readNpyPositions). */
torch::Tensor readPositionFrames(const std::string& path);

/**
 * The features of frames [F, n, 3] (nm) by the `featurize` method of `module` (a bundle, or the feature
 * module of a FeatureSpec), 4096 frames at a time.
 */
torch::Tensor featurizeInBatches(torch::jit::Module& module, const torch::Tensor& frames);

/** "cartesian, bat or positions": the kinds a trajectory can be featurised as (for messages). */
std::string trajectoryFeatureKinds();

/** The atoms that an --atoms value (all | heavy | comma-separated indices) selects among `elements`. */
std::vector<int> selectAtoms(const std::string& selection, const std::vector<int>& explicitAtoms,
                             const std::vector<std::string>& elements);

} // namespace VAEPlugin

#endif
