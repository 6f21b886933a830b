#include "OpenCLVAEKernelFactory.h"
#include "CommonCalcVAECVForceKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/opencl/OpenCLContext.h"

using namespace VAEPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "OpenCL")
            platform.registerKernelFactory(CalcVAECVForceKernel::Name(), new OpenCLVAEKernelFactory());
    }
}

KernelImpl* OpenCLVAEKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    // With several devices the force runs on the first; OpenMM sums the devices' forces there.
    OpenCLContext& cl = *static_cast<OpenCLPlatform::PlatformData*>(context.getPlatformData())->contexts[0];
    if (name == CalcVAECVForceKernel::Name())
        return new CommonCalcVAECVForceKernel(name, platform, cl);
    throw OpenMMException("OpenCLVAEKernelFactory: no kernel named " + name);
}
