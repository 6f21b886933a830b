// VAECVForce on the CUDA platform (the common device kernels registered for CUDA; built where OpenMM has CUDA headers) in single, mixed
// and double precision. OPENMMVAE_REQUIRE_CUDA=1 (the GPU machine's check) turns a missing platform into a failure.

#include "VAECVForceTests.h"

namespace VAETest {

INSTANTIATE_TEST_SUITE_P(CUDA, VAECVForcePlatformTest,
                         ::testing::Values(deviceCase("CUDA", "single"), deviceCase("CUDA", "mixed"), deviceCase("CUDA", "double")),
                         [](const ::testing::TestParamInfo<PlatformCase>& info) { return info.param.name; });

} // namespace VAETest
