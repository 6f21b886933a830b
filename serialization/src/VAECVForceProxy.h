#ifndef OPENMM_VAE_CVFORCE_PROXY_H_
#define OPENMM_VAE_CVFORCE_PROXY_H_

#include "openmm/serialization/SerializationProxy.h"

namespace VAEPlugin {

/** XML proxy for VAECVForce; the model bytes are embedded (base64), so the XML is self-contained. */
class VAECVForceProxy : public OpenMM::SerializationProxy {
public:
    VAECVForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace VAEPlugin

#endif
