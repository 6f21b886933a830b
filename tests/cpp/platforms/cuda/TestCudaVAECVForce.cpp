// VAECVForce on the CUDA platform (the common device kernels registered for CUDA; built where OpenMM has CUDA headers) in single, mixed
// and double precision. OPENMMVAE_REQUIRE_CUDA=1 (the GPU machine's check) turns a missing platform into a failure.

#include "VAECVForceTests.h"

INSTANTIATE_VAECVFORCE_TESTS(CUDA, deviceCase("CUDA", "single"), deviceCase("CUDA", "mixed"), deviceCase("CUDA", "double"))
