// VAECVForce on the CPU platform (whose kernels are the Reference platform's, reading its
// PlatformData): the native evaluator in single and double precision, and any TorchScript module.

#include "VAECVForceTests.h"

namespace VAETest {

INSTANTIATE_TEST_SUITE_P(CPU, VAECVForcePlatformTest, ::testing::Values(hostCase("CPU", "single"), hostCase("CPU", "double")),
                         [](const ::testing::TestParamInfo<PlatformCase>& info) { return info.param.name; });

} // namespace VAETest
