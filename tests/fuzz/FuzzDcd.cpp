// DCD reader (trainer --trajectory): readDcd must return [frames, atoms, 3] float64 values or throw
// std::runtime_error naming the file.

#include "DcdWriter.h"  // tests/trainer/data
#include "FuzzHarness.h"
#include "Trajectory.h"

#include <stdexcept>

namespace VAEFuzz {

std::vector<std::string> seeds() {
    std::vector<std::string> out;
    std::string path = scratchFile("", ".seed.dcd");
    torch::manual_seed(2);
    for (bool cell : {false, true})
        for (int64_t frames : {1, 3}) {
            VAETest::writeDcd(path, torch::randn({frames, 4, 3}, torch::kFloat64), cell);
            out.push_back(readWhole(path));
        }
    std::remove(path.c_str());
    return out;
}

bool runOne(const std::string& input) {
    std::string path = scratchFile(input, ".dcd");
    torch::Tensor t;
    try {
        t = VAEPlugin::readDcd(path);
    } catch (const std::runtime_error&) {
        return false;
    }
    if (t.dim() != 3 || t.size(2) != 3 || t.scalar_type() != torch::kFloat64) bug("readDcd returned a tensor of the wrong shape");
    if (t.numel() * 4 > static_cast<int64_t>(input.size())) bug("readDcd returned more coordinates than the file holds");
    return true;
}

} // namespace VAEFuzz
