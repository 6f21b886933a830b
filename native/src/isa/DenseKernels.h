#ifndef OPENMM_VAE_DENSE_KERNELS_H_
#define OPENMM_VAE_DENSE_KERNELS_H_

// The table of dense kernels compiled for one instruction set (isa/DenseKernels.inc, once per set),
// and the choice among them at run time. Internal to the native library; NativeDense.h is the
// interface the networks use.
//
// Why: an installed library must run on every x86-64 CPU (no -march=native), while the products of
// the networks run two to four times faster with AVX2 + FMA or AVX-512. Each set's table is built
// from the same source with its own -march; the best one the CPU supports is chosen once, on first
// use, or the one named by the environment variable OPENMMVAE_INSTRUCTION_SET (baseline,
// x86-64-v3, x86-64-v4), which tests and users use to force a path.

#include "DenseKernelTable.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/** The kernels in use: the widest set the CPU supports, or OPENMMVAE_INSTRUCTION_SET (throws OpenMMException if that set is unknown, not compiled in or not supported by this CPU). */
const DenseKernels& denseKernels();

/** The table of one set, or null when it is not compiled into this library or the CPU lacks it. */
const DenseKernels* denseKernelsFor(const std::string& instructionSet);

/** The sets this library holds and this CPU runs, narrowest first ("baseline" always). */
std::vector<std::string> supportedInstructionSets();

/** Use another set from now on (tests: each path against the baseline); throws as denseKernels(). */
void selectDenseKernels(const std::string& instructionSet);

} // namespace VAEPlugin

#endif
