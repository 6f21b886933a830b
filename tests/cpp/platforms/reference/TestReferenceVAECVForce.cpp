// VAECVForce on the Reference platform: the native evaluator in double (the default) and single
// precision, and any TorchScript module.

#include "VAECVForceTests.h"

INSTANTIATE_VAECVFORCE_TESTS(Reference, hostCase("Reference", "double"), hostCase("Reference", "single"))
