// libFuzzer entry points for one harness. With VAE_FUZZ_WRITE_SEEDS=DIR in the environment the
// binary writes the harness's seeds into DIR (tests/fuzz/run does this to build the corpus) and exits.

#include "FuzzHarness.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* dir = std::getenv("VAE_FUZZ_WRITE_SEEDS")) {
        std::filesystem::create_directories(dir);
        std::vector<std::string> all = VAEFuzz::seeds();
        for (size_t i = 0; i < all.size(); i++) {
            std::ofstream out(std::string(dir) + "/seed-" + std::to_string(i), std::ios::binary);
            out.write(all[i].data(), static_cast<std::streamsize>(all[i].size()));
        }
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    VAEFuzz::runOne(std::string(reinterpret_cast<const char*>(data), size));
    return 0;
}
