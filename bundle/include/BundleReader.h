#ifndef OPENMM_VAE_BUNDLE_READER_H_
#define OPENMM_VAE_BUNDLE_READER_H_

// TEMPORARY (issue 19): the trainer's one read of a bundle, until VAEModelBundle (the one reader)
// lands in bundle/; then its callers use VAEModelBundle::load(path)->getMetadata() and this file goes.

#include <nlohmann/json.hpp>

#include <string>

namespace VAEPlugin {

/** The parsed metadata.json of a saved bundle; throws (LibTorch's error, or a JSON parse error) if it has none. */
nlohmann::json readBundleMetadata(const std::string& path);

} // namespace VAEPlugin

#endif
