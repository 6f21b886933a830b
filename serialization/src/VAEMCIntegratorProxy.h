#ifndef OPENMM_VAE_MC_INTEGRATOR_PROXY_H_
#define OPENMM_VAE_MC_INTEGRATOR_PROXY_H_

#include "openmm/serialization/SerializationProxy.h"

namespace VAEPlugin {

/**
 * XML proxy for VAEMCIntegrator: every parameter (Langevin and Monte Carlo), both random seeds, and
 * the model bytes embedded (base64), so the XML is self-contained.
 */
class VAEMCIntegratorProxy : public OpenMM::SerializationProxy {
public:
    VAEMCIntegratorProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace VAEPlugin

#endif
