#include "BundleReader.h"

#include "BundleSchema.h"

#include <torch/script.h>

namespace VAEPlugin {

nlohmann::json readBundleMetadata(const std::string& path) {
    torch::jit::ExtraFilesMap extra{{BundleSchema::kMetadataFile, ""}};
    torch::jit::load(path, torch::kCPU, extra);
    return nlohmann::json::parse(extra.at(BundleSchema::kMetadataFile));
}

} // namespace VAEPlugin
