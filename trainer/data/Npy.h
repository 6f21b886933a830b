#ifndef OPENMM_VAE_TRAINER_DATA_NPY_H_
#define OPENMM_VAE_TRAINER_DATA_NPY_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * Reads a NumPy .npy file holding a two-dimensional float32 or float64 array [n, d] (C order, any
 * byte order) and returns it as a [n, d] double tensor.
 *
 * Validates the magic string, the format version (1.0, 2.0, 3.0), the header dictionary (keys
 * 'descr', 'fortran_order', 'shape'), the dtype, the shape (two dimensions, n >= 1, d >= 1), the
 * file size, and that every value is finite. Throws std::runtime_error with a message that names the
 * file and what is wrong (for a non-finite value: the first bad row and column).
 */
torch::Tensor readNpy(const std::string& path);

/**
 * Reads atom positions (nm) from a .npy file: a C-order float32/float64 array [frames, atoms, 3] or a
 * two-dimensional one [frames, 3 atoms] (x, y, z of each atom in turn), checked as readNpy checks.
 * Returns [frames, atoms, 3] float64.
 */
torch::Tensor readNpyPositions(const std::string& path);

/** Writes a [n, d] tensor as a little-endian float64 (or float32) .npy file (version 1.0). */
void writeNpy(const std::string& path, const torch::Tensor& array, bool float32 = false);

} // namespace VAEPlugin

#endif
