// .npy reader (trainer --data): readNpy must return a finite 2-D float64 tensor or throw
// std::runtime_error / std::invalid_argument naming the file.

#include "FuzzHarness.h"
#include "Npy.h"

#include <stdexcept>

namespace VAEFuzz {

std::vector<std::string> seeds() {
    std::vector<std::string> out;
    std::string path = scratchFile("", ".seed.npy");
    torch::manual_seed(1);
    for (bool float32 : {false, true})
        for (auto shape : {std::vector<int64_t>{1, 1}, std::vector<int64_t>{5, 2}, std::vector<int64_t>{3, 7}}) {
            VAEPlugin::writeNpy(path, torch::randn(shape, torch::kFloat64), float32);
            out.push_back(readWhole(path));
        }
    std::remove(path.c_str());
    return out;
}

bool runOne(const std::string& input) {
    std::string path = scratchFile(input, ".npy");
    torch::Tensor t;
    try {
        t = VAEPlugin::readNpy(path);
    } catch (const std::runtime_error&) {
        return false;
    } catch (const std::invalid_argument&) {
        return false;
    }
    if (t.dim() != 2 || t.scalar_type() != torch::kFloat64) bug("readNpy accepted a file but returned no 2-D float64 array");
    if (t.numel() > 0 && !torch::isfinite(t).all().item<bool>()) bug("readNpy accepted non-finite values");
    if (static_cast<size_t>(t.numel()) > input.size()) bug("readNpy returned more values than the file holds");
    return true;
}

} // namespace VAEFuzz
