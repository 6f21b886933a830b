// VAECVForce on the OpenCL platform (the common device kernels; PoCL on the CPU in CI) in single, mixed
// and double precision. OPENMMVAE_REQUIRE_OPENCL=1 (the GPU machine's check) turns a missing platform into a failure.

#include "VAECVForceTests.h"

namespace VAETest {

INSTANTIATE_TEST_SUITE_P(OpenCL, VAECVForcePlatformTest,
                         ::testing::Values(deviceCase("OpenCL", "single"), deviceCase("OpenCL", "mixed"), deviceCase("OpenCL", "double")),
                         [](const ::testing::TestParamInfo<PlatformCase>& info) { return info.param.name; });

} // namespace VAETest
