// VAECVForce on the CPU platform (whose kernels are the Reference platform's, reading its
// PlatformData): the native evaluator in single and double precision, and any TorchScript module.

#include "VAECVForceTests.h"

INSTANTIATE_VAECVFORCE_TESTS(CPU, hostCase("CPU", "single"), hostCase("CPU", "double"))
