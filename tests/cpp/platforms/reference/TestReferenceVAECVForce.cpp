// VAECVForce on the Reference platform: the native evaluator in double (the default) and single
// precision, and any TorchScript module.

#include "VAECVForceTests.h"

namespace VAETest {

INSTANTIATE_TEST_SUITE_P(Reference, VAECVForcePlatformTest, ::testing::Values(hostCase("Reference", "double"), hostCase("Reference", "single")),
                         [](const ::testing::TestParamInfo<PlatformCase>& info) { return info.param.name; });

} // namespace VAETest
