#include "DistributedOptions.h"

#include "NumberText.h"

#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace VAEPlugin {

namespace {

/** Reads an integer environment variable; nullopt when unset or empty. */
std::optional<int> environmentInt(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    std::optional<int> value = parseInteger(v);
    if (!value) throw std::invalid_argument(std::string(name) + "='" + v + "' is not an integer");
    return value;
}

} // namespace

bool DistributedOptions::resolve() {
    bool asked = rank >= 0 || worldSize >= 0 || masterPort >= 0 || !masterAddress.empty();
    if (rank < 0)
        if (auto v = environmentInt("RANK")) rank = *v, asked = true;
    if (worldSize < 0)
        if (auto v = environmentInt("WORLD_SIZE")) worldSize = *v, asked = true;
    if (masterPort < 0)
        if (auto v = environmentInt("MASTER_PORT")) masterPort = *v;
    if (masterAddress.empty())
        if (const char* v = std::getenv("MASTER_ADDR")) masterAddress = v;
    if (!asked && microBatches == 0) return false;
    if (!asked) {  // --micro-batches alone: the pieces in this process
        rank = 0;
        worldSize = 1;
        singleProcess = true;
        if (microBatches < 1)
            throw std::invalid_argument("--micro-batches " + std::to_string(microBatches) + " must be at least 1");
        return true;
    }
    if (worldSize < 1) throw std::invalid_argument("distributed training needs WORLD_SIZE (or --world-size) >= 1");
    if (rank < 0 || rank >= worldSize)
        throw std::invalid_argument("RANK (--rank) must be in 0.." + std::to_string(worldSize - 1) + " for WORLD_SIZE " +
                                    std::to_string(worldSize) + ", got " + std::to_string(rank));
    if (masterPort < 1 || masterPort > 65535)
        throw std::invalid_argument("distributed training needs MASTER_PORT (or --master-port) in 1..65535" +
                                    (masterPort < 0 ? std::string() : ", got " + std::to_string(masterPort)));
    if (masterAddress.empty()) masterAddress = "127.0.0.1";
    if (!(timeoutSeconds > 0)) throw std::invalid_argument("--dist-timeout must be positive");
    if (microBatches == 0) microBatches = worldSize;
    if (microBatches < 1 || microBatches % worldSize != 0)
        throw std::invalid_argument("--micro-batches " + std::to_string(microBatches) +
                                    " must be a positive multiple of the world size " + std::to_string(worldSize));
    return true;
}

} // namespace VAEPlugin
