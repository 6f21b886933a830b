// VAECVForce on the OpenCL platform (the common device kernels; PoCL on the CPU in CI) in single, mixed
// and double precision. OPENMMVAE_REQUIRE_OPENCL=1 (the GPU machine's check) turns a missing platform into a failure.

#include "VAECVForceTests.h"

INSTANTIATE_VAECVFORCE_TESTS(OpenCL, deviceCase("OpenCL", "single"), deviceCase("OpenCL", "mixed"), deviceCase("OpenCL", "double"))
