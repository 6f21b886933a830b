// Replay of one harness in the normal test suite: every seed must be accepted (so the seeds reach
// deep into the reader), then every file under the given folders (the regression inputs of crashes
// the fuzzer found, tests/fuzz/regressions/<name>/) must be accepted or cleanly refused.

#include "FuzzHarness.h"

#include <algorithm>
#include <filesystem>
#include <iostream>

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<std::string> all = VAEFuzz::seeds();
    if (all.empty()) {
        std::cerr << "no seeds\n";
        return 1;
    }
    for (size_t i = 0; i < all.size(); i++) {
        if (!VAEFuzz::runOne(all[i])) {
            std::cerr << "seed " << i << " was refused\n";
            return 1;
        }
    }
    std::cout << all.size() << " seeds accepted\n";
    int replayed = 0, refused = 0;
    for (int a = 1; a < argc; a++) {
        if (!fs::is_directory(argv[a])) continue;  // a harness without regression inputs yet
        std::vector<fs::path> files;
        for (const auto& entry : fs::recursive_directory_iterator(argv[a]))
            if (entry.is_regular_file()) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) {
            std::cout << "replay " << f.string() << std::endl;
            if (!VAEFuzz::runOne(VAEFuzz::readWhole(f.string()))) refused++;
            replayed++;
        }
    }
    std::cout << replayed << " regression inputs replayed (" << refused << " cleanly refused)\n";
    return 0;
}
