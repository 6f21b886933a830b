#include "ReferenceVAEKernelFactory.h"
#include "ReferenceVAEKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/windowsExport.h"

using namespace VAEPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "Reference" || platform.getName() == "CPU")
            platform.registerKernelFactory(CalcVAECVForceKernel::Name(), new ReferenceVAEKernelFactory());
    }
}

KernelImpl* ReferenceVAEKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcVAECVForceKernel::Name())
        return new ReferenceCalcVAECVForceKernel(name, platform);
    throw OpenMMException("ReferenceVAEKernelFactory: no kernel named " + name);
}
