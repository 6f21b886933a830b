// checkBundleFitsSystem: a bundle's atoms and (for BAT features) its constrained bonds must
// match the System it is used with; every mismatch is an OpenMMException naming atoms and lengths.

#include "TestModels.h"
#include "TestSupport.h"
#include "VAECVForce.h"
#include "internal/BundleChecks.h"
#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <gtest/gtest.h>
#include <cmath>
#include <functional>

using namespace OpenMM;
using namespace VAEPlugin;
using namespace VAETest;

namespace {

/** Metadata of a BAT bundle on System atoms {2, 3, 4, 5} with bonds 2-3 (0.1 nm) and 4-5 (0.11 nm) constrained. */
std::string batMetadata(const std::string& constraints = "hbonds") {
    nlohmann::json j = nlohmann::json::parse(metadataFor({2, 3, 4, 5}, 2));
    j["features"] = {{"kind", "bat"}, {"constraints", constraints},
                     {"constrained_bonds", nlohmann::json::array({{2, 3, 0.1}, {5, 4, 0.11}})}};
    return j.dump();
}

std::shared_ptr<VAEModelBundle> batBundle() {
    return VAEModelBundle::load(mlpModel(4, 2, 1, batMetadata()));
}

/** A System of n particles with the given constraints. */
System makeSystem(int n, const std::vector<std::tuple<int, int, double>>& constraints) {
    System system;
    for (int i = 0; i < n; i++)
        system.addParticle(12.0);
    for (const auto& c : constraints)
        system.addConstraint(std::get<0>(c), std::get<1>(c), std::get<2>(c));
    return system;
}

// Every fragment in the message of the OpenMMException f throws.
void expectThrowMentioningAll(const std::function<void()>& f, const std::vector<std::string>& fragments) {
    try {
        f();
        ADD_FAILURE() << "no exception; expected one mentioning '" << fragments[0] << "'";
    }
    catch (const OpenMMException& e) {
        for (const auto& fragment : fragments)
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
    }
}

} // namespace

TEST(CheckSystem, MatchingConstraintsPass) {
    auto bundle = batBundle();
    // Constraint order and atom order within a constraint do not matter; constraints elsewhere are ignored.
    System system = makeSystem(8, {{5, 4, 0.11}, {0, 1, 0.2}, {3, 2, 0.10005}});
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator"));
}

TEST(CheckSystem, AtomOutOfRange) {
    auto bundle = batBundle();
    System system = makeSystem(5, {{2, 3, 0.1}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator"); }, {"VAEMCIntegrator", "uses atom 5", "5 particles"});
}

TEST(CheckSystem, ConstraintMissingFromBundle) {
    auto bundle = batBundle();
    System system = makeSystem(6, {{2, 3, 0.1}, {4, 5, 0.11}, {3, 4, 0.15}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAECVForce"); }, {"3-4", "0.15", "free"});
}

TEST(CheckSystem, BundleConstraintMissingFromSystem) {
    auto bundle = batBundle();
    System system = makeSystem(6, {{2, 3, 0.1}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAECVForce"); }, {"4-5", "0.11", "no such constraint"});
}

TEST(CheckSystem, LengthMismatch) {
    auto bundle = batBundle();
    System system = makeSystem(6, {{2, 3, 0.1}, {4, 5, 0.1092}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAECVForce"); }, {"4-5", "0.109200", "0.110000"});
}

TEST(CheckSystem, ConstraintLeavingTheBundle) {
    auto bundle = batBundle();
    System system = makeSystem(7, {{2, 3, 0.1}, {4, 5, 0.11}, {5, 6, 0.1}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAECVForce"); }, {"atom 5", "atom 6", "not in the model"});
}

TEST(CheckSystem, AtomsRemappedThroughSetAtoms) {
    auto bundle = batBundle();
    // The same model placed on atoms {0, 1, 2, 3}: its constrained bonds become 0-1 and 2-3.
    System system = makeSystem(4, {{0, 1, 0.1}, {2, 3, 0.11}});
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAECVForce", {0, 1, 2, 3}));
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAECVForce"); }, {"uses atom 4"});
}

TEST(CheckSystem, NonBatBundleIgnoresConstraints) {
    auto bundle = VAEModelBundle::load(mlpModel(4, 2, 1, metadataFor({0, 1, 2, 3}, 2)));
    System system = makeSystem(4, {{0, 1, 0.1}});
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAECVForce"));
}

TEST(CheckSystem, ContextCreationChecksTheForce) {
    loadPlugins();
    System system = makeSystem(6, {{2, 3, 0.1}});
    VAECVForce* force = new VAECVForce(mlpModel(4, 2, 1, batMetadata()));
    force->setAtoms({2, 3, 4, 5});
    system.addForce(force);
    VerletIntegrator integrator(0.001);
    expectThrowMentioningAll([&] { Context context(system, integrator, Platform::getPlatformByName("Reference")); },
                          {"VAECVForce", "4-5", "no such constraint"});
    system.addConstraint(4, 5, 0.11);
    VerletIntegrator integrator2(0.001);
    Context context(system, integrator2, Platform::getPlatformByName("Reference"));
    std::vector<Vec3> positions;
    for (int i = 0; i < 6; i++)
        positions.push_back(Vec3(0.1 * i, 0.05 * (i % 2), 0.0));
    context.setPositions(positions);
    EXPECT_TRUE(std::isfinite(context.getState(State::Energy).getPotentialEnergy()));
}
