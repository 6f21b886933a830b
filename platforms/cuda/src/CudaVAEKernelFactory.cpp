#include "CudaVAEKernelFactory.h"
#include "CommonCalcVAECVForceKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/cuda/CudaContext.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"

using namespace VAEPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CUDA")
            platform.registerKernelFactory(CalcVAECVForceKernel::Name(), new CudaVAEKernelFactory());
    }
}

KernelImpl* CudaVAEKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    // With several devices the force runs on the first; OpenMM sums the devices' forces there.
    CudaContext& cu = *static_cast<CudaPlatform::PlatformData*>(context.getPlatformData())->contexts[0];
    if (name == CalcVAECVForceKernel::Name())
        return new CommonCalcVAECVForceKernel(name, platform, cu);
    throw OpenMMException("CudaVAEKernelFactory: no kernel named " + name);
}
