#ifndef OPENMM_VAE_BASE64_H_
#define OPENMM_VAE_BASE64_H_

#include <string>

namespace VAEPlugin {

/** Standard base64 (RFC 4648) for embedding model bytes in XML. */
std::string encodeBase64(const std::string& bytes);
/** Decode base64; throws OpenMMException on characters outside the alphabet or bad length. */
std::string decodeBase64(const std::string& text);

} // namespace VAEPlugin

#endif
