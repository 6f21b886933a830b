#ifndef OPENMM_VAE_TEST_DATA_H_
#define OPENMM_VAE_TEST_DATA_H_

// The committed test files in tests/data (bundles written by tests/data/generate, the legacy record).

#include "openmm/OpenMMException.h"
#include <fstream>
#include <sstream>
#include <string>

namespace VAETest {

/** Path of a file in tests/data. */
inline std::string dataPath(const std::string& name) {
    return std::string(VAE_TEST_DATA_DIR) + "/" + name;
}

/** The bytes of a file in tests/data (a bundle, an XML System, a JSON record). */
inline std::string dataBytes(const std::string& name) {
    std::ifstream in(dataPath(name), std::ios::binary);
    if (!in)
        throw OpenMM::OpenMMException("cannot read " + dataPath(name) + " (written by tests/data/generate)");
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

} // namespace VAETest

#endif
