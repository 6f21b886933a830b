#ifndef OPENMM_VAE_TRAINER_DATA_TRAJECTORY_H_
#define OPENMM_VAE_TRAINER_DATA_TRAJECTORY_H_

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace VAEPlugin {

/** The atoms of a PDB file (ATOM/HETATM records of the first model) and its CONECT bonds. */
struct PdbTopology {
    std::vector<std::string> names, residues, elements;  ///< per atom; element symbols capitalised ("C", "Cl")
    std::vector<double> positions;                       ///< [3 n] nm
    std::vector<std::pair<int, int>> conect;             ///< CONECT bonds as 0-based atom indices
    int numAtoms() const { return static_cast<int>(names.size()); }
};

/**
 * Reads a PDB file. Elements come from columns 77-78, or from the atom name when those are blank.
 * Throws std::runtime_error naming the file and line for malformed records or a file without atoms.
 */
PdbTopology readPdb(const std::string& path);

/**
 * Reads a DCD trajectory as written by OpenMM (openmm.app.DCDFile; CHARMM format, little-endian,
 * 4-byte Fortran record markers, optional unit-cell record per frame). Returns the frames as a
 * [frames, atoms, 3] float64 tensor in nm (the file holds Angstrom). The frame count comes from the
 * file size (the header's count may be stale); throws std::runtime_error naming the file for a bad
 * header or a truncated frame.
 */
torch::Tensor readDcd(const std::string& path);

} // namespace VAEPlugin

#endif
