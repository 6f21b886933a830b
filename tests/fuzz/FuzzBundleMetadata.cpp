// Model bundle metadata (metadata.json inside the TorchScript archive): loading a bundle and checking
// it against a System (atoms in range, BAT constraints as trained) must succeed or throw
// OpenMMException, whatever the JSON holds.

#include "FuzzHarness.h"
#include "TestModels.h"  // tests/cpp/common: archiveBytes
#include "internal/BundleChecks.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"

#include <memory>

namespace VAEFuzz {

namespace {

/** A valid archive's module (forward of [n, 3] positions); the fuzzed part is its metadata.json. */
torch::jit::Module& model() {
    static torch::jit::Module m = [] {
        torch::jit::Module module("FuzzCV");
        module.define(R"(
def forward(self, positions):
    return torch.sum(positions, 0)[0:1]
)");
        return module;
    }();
    return m;
}

/** Six particles; bonds 0-1 and 2-3 constrained (as HBonds constraints of a small molecule). */
const OpenMM::System& system() {
    static const std::unique_ptr<OpenMM::System> s = [] {
        auto sys = std::make_unique<OpenMM::System>();
        for (int i = 0; i < 6; i++) sys->addParticle(12.0);
        sys->addConstraint(0, 1, 0.1);
        sys->addConstraint(2, 3, 0.15);
        return sys;
    }();
    return *s;
}

} // namespace

std::vector<std::string> seeds() {
    nlohmann::json xy = {{"format_version", 1}, {"atoms", {0}}, {"latent", 1}, {"features", {{"kind", "xy"}}},
                         {"temperature", 300.0}};
    nlohmann::json bat = {{"format_version", 1},
                          {"atoms", {0, 1, 2, 3, 4}},
                          {"latent", 2},
                          {"features", {{"kind", "bat"}, {"constrained_bonds", {{0, 1, 0.1}, {2, 3, 0.15}}}}},
                          {"temperature", nullptr}};
    return {xy.dump(), bat.dump(2), "{}"};
}

bool runOne(const std::string& input) {
    std::string bytes = VAETest::archiveBytes(model(), input.empty() ? "{}" : input);
    try {
        std::shared_ptr<VAEPlugin::VAEModelBundle> bundle = VAEPlugin::VAEModelBundle::load(bytes);
        VAEPlugin::checkBundleFitsSystem(*bundle, system(), "fuzz", VAEPlugin::BundleUse::Moves);
        bundle->getMetadataLatentSize();
    } catch (const OpenMM::OpenMMException&) {
        return false;
    } catch (const VAEPlugin::BundleError&) {
        return false;
    }
    return true;
}

} // namespace VAEFuzz
