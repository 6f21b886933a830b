#ifndef OPENCL_VAE_KERNEL_FACTORY_H_
#define OPENCL_VAE_KERNEL_FACTORY_H_

#include "openmm/KernelFactory.h"

namespace VAEPlugin {

/** Creates the common (GPU) kernels on OpenMM's OpenCL platform. */
class OpenCLVAEKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace VAEPlugin

#endif
