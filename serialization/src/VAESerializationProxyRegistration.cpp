#include "VAECVForce.h"
#include "VAECVForceProxy.h"
#include "VAEMCIntegrator.h"
#include "VAEMCIntegratorProxy.h"
#include "openmm/serialization/SerializationProxy.h"
#include <typeinfo>

using namespace VAEPlugin;

// Runs when the library is loaded, so XmlSerializer knows the plugin's classes without a call.
extern "C" __attribute__((constructor)) void registerVAESerializationProxies() {
    OpenMM::SerializationProxy::registerProxy(typeid(VAECVForce), new VAECVForceProxy());
    OpenMM::SerializationProxy::registerProxy(typeid(VAEMCIntegrator), new VAEMCIntegratorProxy());
}
