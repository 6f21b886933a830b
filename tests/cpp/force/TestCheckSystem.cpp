// checkBundleFitsSystem: a bundle's atoms must exist in the System it is used with, and for moves
// (BAT features) its constrained bonds must be the System's; every mismatch is an OpenMMException
// naming atoms and lengths. The CV itself reads positions only.

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

using Constraints = std::vector<std::tuple<int, int, double>>;

/** A System of n particles with the given constraints. */
System makeSystem(int n, const Constraints& constraints) {
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
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves));
}

TEST(CheckSystem, AtomOutOfRange) {
    auto bundle = batBundle();
    System system = makeSystem(5, {{2, 3, 0.1}});
    for (BundleUse use : {BundleUse::Moves, BundleUse::CollectiveVariable})
        expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", use); },
                                 {"VAEMCIntegrator", "uses atom 5", "5 particles"});
}

TEST(CheckSystem, ConstraintMissingFromBundle) {
    auto bundle = batBundle();
    System system = makeSystem(6, {{2, 3, 0.1}, {4, 5, 0.11}, {3, 4, 0.15}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves); },
                             {"3-4", "0.15", "free"});
}

TEST(CheckSystem, BundleConstraintMissingFromSystem) {
    auto bundle = batBundle();
    System system = makeSystem(6, {{2, 3, 0.1}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves); },
                             {"4-5", "0.11", "no such constraint"});
}

TEST(CheckSystem, OtherLengthsFitTheMoves) {
    // Data from another force field or engine: the moves build the bonds at the System's lengths.
    auto bundle = batBundle();
    System system = makeSystem(6, {{2, 3, 0.1}, {4, 5, 0.1092}});
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves));
}

TEST(CheckSystem, TheCollectiveVariableIgnoresConstraints) {
    // The CV reads positions only: other lengths, other constrained bonds, or none at all.
    auto bundle = batBundle();
    const std::vector<std::pair<int, Constraints>> systems = {
        {6, {{2, 3, 0.1}, {4, 5, 0.1092}}}, {6, {}}, {7, {{2, 3, 0.1}, {3, 4, 0.15}, {5, 6, 0.1}}}};
    for (const auto& s : systems) {
        System system = makeSystem(s.first, s.second);
        EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAECVForce", BundleUse::CollectiveVariable));
    }
}

TEST(CheckSystem, ConstraintLeavingTheBundle) {
    auto bundle = batBundle();
    System system = makeSystem(7, {{2, 3, 0.1}, {4, 5, 0.11}, {5, 6, 0.1}});
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves); },
                             {"atom 5", "atom 6", "not in the model"});
}

TEST(CheckSystem, AtomsRemappedThroughSetAtoms) {
    auto bundle = batBundle();
    // The same model placed on atoms {0, 1, 2, 3}: its constrained bonds become 0-1 and 2-3.
    System system = makeSystem(4, {{0, 1, 0.1}, {2, 3, 0.11}});
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", {0, 1, 2, 3}, BundleUse::Moves));
    expectThrowMentioningAll([&] { checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves); },
                             {"uses atom 4"});
}

TEST(CheckSystem, NonBatBundleIgnoresConstraints) {
    auto bundle = VAEModelBundle::load(mlpModel(4, 2, 1, metadataFor({0, 1, 2, 3}, 2)));
    System system = makeSystem(4, {{0, 1, 0.1}});
    EXPECT_NO_THROW(checkBundleFitsSystem(*bundle, system, "VAEMCIntegrator", BundleUse::Moves));
}

TEST(CheckSystem, AForceWithABatModelRunsWithOtherConstraints) {
    // A BAT CV trained on data with constraints 2-3 and 4-5 gives the same energy in a System that
    // constrains other bonds, at other lengths, or none: it reads positions only.
    loadPlugins();
    std::vector<Vec3> positions;
    for (int i = 0; i < 6; i++)
        positions.push_back(Vec3(0.1 * i, 0.05 * (i % 2), 0.02 * i * i));
    std::vector<double> energies;
    for (const Constraints& constraints : std::vector<Constraints>{{{2, 3, 0.1}, {4, 5, 0.11}}, {{2, 3, 0.1}, {4, 5, 0.1092}}, {}}) {
        System system = makeSystem(6, constraints);
        VAECVForce* force = new VAECVForce(mlpModel(4, 2, 1, batMetadata()));
        force->setAtoms({2, 3, 4, 5});
        force->useHarmonicRestraint({0.3, -0.2}, {50.0, 50.0});
        system.addForce(force);
        VerletIntegrator integrator(0.001);
        Context context(system, integrator, Platform::getPlatformByName("Reference"));
        context.setPositions(positions);
        energies.push_back(context.getState(State::Energy).getPotentialEnergy());
    }
    ASSERT_TRUE(std::isfinite(energies[0]));
    EXPECT_NE(energies[0], 0.0);
    EXPECT_EQ(energies[1], energies[0]);
    EXPECT_EQ(energies[2], energies[0]);
}
