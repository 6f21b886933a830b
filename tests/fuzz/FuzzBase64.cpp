// Base64 of the model bytes in the Force and Integrator XML: decodeBase64 must return bytes or throw
// OpenMMException; encode then decode gives back any input.

#include "Base64.h"
#include "FuzzHarness.h"
#include "openmm/OpenMMException.h"

namespace VAEFuzz {

std::vector<std::string> seeds() {
    return {VAEPlugin::encodeBase64("PK\x03\x04 model"), VAEPlugin::encodeBase64("a"), VAEPlugin::encodeBase64("ab"),
            VAEPlugin::encodeBase64(std::string("\0\xff\x10", 3))};
}

bool runOne(const std::string& input) {
    if (VAEPlugin::decodeBase64(VAEPlugin::encodeBase64(input)) != input) bug("base64 round trip changed the bytes");
    std::string decoded;
    try {
        decoded = VAEPlugin::decodeBase64(input);
    } catch (const OpenMM::OpenMMException&) {
        return false;
    }
    if (decoded.size() > input.size() / 4 * 3) bug("decodeBase64 returned more bytes than the text encodes");
    return true;
}

} // namespace VAEFuzz
