#ifndef REFERENCE_VAE_KERNEL_FACTORY_H_
#define REFERENCE_VAE_KERNEL_FACTORY_H_

#include "openmm/KernelFactory.h"

namespace VAEPlugin {

/** Creates the LibTorch kernels; registered for the Reference and CPU platforms. */
class ReferenceVAEKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace VAEPlugin

#endif
