// Bundle files as the plugin reads them, with or without LibTorch (this test uses none):
//  - every committed trainer bundle carries a native section and an integrity record, and its native
//    evaluator agrees with what its methods compute;
//  - corrupted copies (truncation, byte flips, random bytes) never load with other numbers;
//  - bundles of format 1 (tests/data/legacy-8b398d5-*) load with LibTorch and are refused, by name, without;
//  - the numbers a build gives (CV, biased energy and forces, VAE-MC statistics), written to the file
//    $VAE_CROSS_BUILD_RECORD when set, so scripts/test can compare the builds with and without LibTorch.

#include "BundleArchive.h"
#include "NativeCVEvaluator.h"
#include "NativeSelfCheck.h"
#include "TestData.h"
#include "TestSupport.h"
#include "ToySystems.h"
#include "VAECVForce.h"
#include "VAEMCGenerator.h"
#include "VAEMCIntegrator.h"
#include "VAEModelBundle.h"
#include "openmm/Context.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>

using namespace VAEPlugin;
using namespace OpenMM;

namespace {

const std::vector<std::string> kBundles = {"mueller-xy-condind.pt",       "beltway-polar-condind.pt", "beltway-polar-autoregressive.pt",
                                           "positions-4atoms.pt",         "ala-bat-shuffled-hbonds.pt", "ala-cartesian-heavy-shuffled.pt",
                                           "rotor-bat-autoregressive.pt"};

/** z of the native double evaluator on the probe configuration, or empty if the bundle does not load or native code cannot evaluate it. */
std::vector<double> probeLatent(const std::string& bytes) {
    std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(bytes);
    const int n = static_cast<int>(bundle->getMetadataAtoms().size());
    NativeSelfCheck check = checkNativeAgainstBundle(*bundle, n);
    if (!check.agrees()) return {};
    std::vector<double> z;
    createNativeCVEvaluator(check.spec, "double")->evaluate(VAEModelBundle::probePositions(n), z, false);
    return z;
}

} // namespace

TEST(BundleFile, CarriesANativeSectionAndAnIntegrityRecord) {
    for (const std::string& name : kBundles) {
        SCOPED_TRACE(name);
        std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(VAETest::dataPath(name));
        EXPECT_TRUE(bundle->hasNativeSection());
        EXPECT_TRUE(bundle->hasIntegrityRecord());
        EXPECT_EQ(bundle->getMetadata().value("format_version", 0), BundleSchema::kFormatVersion);
        NativeSelfCheck check = checkNativeAgainstBundle(*bundle, bundle->getMetadataAtoms().size());
        EXPECT_TRUE(check.agrees()) << check.whyNot;
        EXPECT_EQ((int) check.forwardLatent.size(), bundle->getMetadataLatentSize());
    }
}

TEST(BundleFile, CorruptedCopiesNeverLoadWithOtherNumbers) {
    // 120 corrupted copies per bundle: 40 truncated, 40 with one flipped byte, 40 with a run of random bytes
    for (const std::string& name : {std::string("ala-bat-shuffled-hbonds.pt"), std::string("mueller-xy-condind.pt")}) {
        SCOPED_TRACE(name);
        const std::string intact = VAETest::dataBytes(name);
        const std::vector<double> expected = probeLatent(intact);
        ASSERT_FALSE(expected.empty());
        std::mt19937_64 rng(20261207);
        int loaded = 0;
        for (int k = 0; k < 120; k++) {
            std::string bytes = intact;
            std::uniform_int_distribution<size_t> position(0, bytes.size() - 1);
            if (k < 40)
                bytes.resize(position(rng));
            else if (k < 80)
                bytes[position(rng)] ^= static_cast<char>(1 + rng() % 255);
            else {
                const size_t start = position(rng), length = std::min<size_t>(1 + rng() % 64, bytes.size() - start);
                for (size_t i = 0; i < length; i++) bytes[start + i] = static_cast<char>(rng());
            }
            if (bytes == intact) continue;
            std::vector<double> z;
            try {
                z = probeLatent(bytes);
            }
            catch (const std::exception& e) {  // refused, with a message
                EXPECT_FALSE(std::string(e.what()).empty());
                continue;
            }
            loaded++;
            EXPECT_EQ(z, expected) << "corruption " << k << " loaded with other numbers";
        }
        std::cout << name << ": " << loaded << " of 120 corrupted copies loaded (zip header bytes that define no number)" << std::endl;
    }
}

TEST(BundleFile, FormatOneBundlesNeedLibTorch) {
    const std::string path = VAETest::dataPath("legacy-8b398d5-ala-bat.pt");
    if (VAEModelBundle::hasTorchScript()) {
        std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(path);
        EXPECT_FALSE(bundle->hasNativeSection());
        EXPECT_FALSE(bundle->hasIntegrityRecord());
        EXPECT_TRUE(checkNativeAgainstBundle(*bundle, bundle->getMetadataAtoms().size()).agrees());
    } else {
        try {
            VAEModelBundle::load(path);
            FAIL() << "a format-1 bundle loaded without LibTorch";
        } catch (const BundleError& e) {
            EXPECT_NE(std::string(e.what()).find("no native section"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("openmm-vae upgrade"), std::string::npos) << e.what();
        }
    }
}

TEST(BundleFile, TheMoveGeneratorDrawsAsMT19937) {
    // the native moves of both builds draw the same numbers: MT19937 of the seed's low 32 bits, pairs high first
    for (uint64_t seed : {1ull, 12345ull, 0x1234567890ull}) {
        VAEMCGenerator generator(seed);
        std::mt19937 reference(static_cast<uint32_t>(seed));
        for (int i = 0; i < 1000; i++) {
            const uint64_t high = reference(), low = reference();
            ASSERT_EQ(generator.random64(), (high << 32) | low) << "seed " << seed << ", draw " << i;
        }
        VAEMCGenerator copy(7);
        copy.setState(generator.state());
        EXPECT_EQ(copy.random64(), generator.random64());
    }
    EXPECT_THROW(VAEMCGenerator(1).setState("not a state"), std::invalid_argument);
}

TEST(BundleFile, RecordForTheOtherBuild) {
    // What this build computes, for scripts/test to compare with the other build (same machine).
    VAETest::loadPlugins();
    nlohmann::json record;
    record["torchscript"] = VAEModelBundle::hasTorchScript();
    for (const std::string& name : {std::string("ala-bat-shuffled-hbonds.pt"), std::string("positions-4atoms.pt")}) {
        std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(VAETest::dataPath(name));
        const std::vector<int> atoms = bundle->getMetadataAtoms();
        const int numParticles = *std::max_element(atoms.begin(), atoms.end()) + 1;
        std::unique_ptr<System> system(VAETest::makeSystem(numParticles));
        VAECVForce* force = new VAECVForce(VAETest::dataPath(name));
        const int L = bundle->getMetadataLatentSize();
        force->useHarmonicRestraint(std::vector<double>(L, 0.3), std::vector<double>(L, 50.0));
        system->addForce(force);
        VerletIntegrator integrator(0.001);
        Context context(*system, integrator, Platform::getPlatformByName("Reference"));
        context.setPositions(VAETest::randomPositions(numParticles, 3));
        State state = context.getState(State::Energy | State::Forces);
        std::vector<double> forces;
        for (int a : atoms)
            for (int d = 0; d < 3; d++) forces.push_back(state.getForces()[a][d]);
        record[name] = {{"latent", force->getCollectiveVariableValues(context)},
                        {"energy", state.getPotentialEnergy()},
                        {"forces", forces},
                        {"implementation", force->getImplementationInContext(context)}};
    }
    {
        // VAE-MC on the Mueller particle: 200 rounds of 10 steps and 20 moves, both seeds fixed
        std::unique_ptr<System> system(VAETest::toyParticleSystem("mueller"));
        VAEMCIntegrator integrator(VAETest::kTemperature, 1.0, 0.002, VAETest::dataPath("mueller-xy-condind.pt"), 10, 20);
        integrator.setRandomNumberSeed(5);
        integrator.setMoveRandomNumberSeed(11);
        Context context(*system, integrator, Platform::getPlatformByName("Reference"));
        context.setPositions({Vec3(-0.5, 1.4, 0)});
        integrator.step(2000);
        const Vec3 p = context.getState(State::Positions).getPositions()[0];
        record["mueller-mc"] = {{"attempted", integrator.getNumAttempted()}, {"accepted", integrator.getNumAccepted()},
                                {"position", {p[0], p[1], p[2]}}};
        EXPECT_EQ(integrator.getNumAttempted(), 200 * 20);
        EXPECT_GT(integrator.getNumAccepted(), 0);
    }
    if (const char* path = std::getenv("VAE_CROSS_BUILD_RECORD")) {
        std::ofstream out(path);
        out << record.dump(1) << std::endl;
        ASSERT_TRUE(out.good()) << "cannot write " << path;
    }
}

TEST(BundleFile, ForcesOfTheNativeSectionMatchFiniteDifferences) {
    // the CV of the bat bundle as a restraint on Reference, in double precision: what a build without LibTorch evaluates
    VAETest::loadPlugins();
    const std::string name = "ala-bat-shuffled-hbonds.pt";
    std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(VAETest::dataPath(name));
    const std::vector<int> atoms = bundle->getMetadataAtoms();
    const int numParticles = *std::max_element(atoms.begin(), atoms.end()) + 1, L = bundle->getMetadataLatentSize();
    std::unique_ptr<System> system(VAETest::makeSystem(numParticles));
    VAECVForce* force = new VAECVForce(VAETest::dataPath(name));
    force->setProperty("Precision", "double");
    force->useHarmonicRestraint(std::vector<double>(L, 0.2), std::vector<double>(L, 80.0));
    system->addForce(force);
    VerletIntegrator integrator(0.001);
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    EXPECT_EQ(force->getImplementationInContext(context), "native-double");
    std::vector<Vec3> positions = VAETest::randomPositions(numParticles, 8);
    context.setPositions(positions);
    const std::vector<Vec3> forces = context.getState(State::Forces).getForces();
    const double h = 1e-6;
    double largest = 0;
    for (int a : atoms) for (int d = 0; d < 3; d++) largest = std::max(largest, std::abs(forces[a][d]));
    ASSERT_GT(largest, 1e-3);
    for (int a : {atoms[0], atoms[5], atoms[11]})
        for (int d = 0; d < 3; d++) {
            std::vector<Vec3> plus = positions, minus = positions;
            plus[a][d] += h;
            minus[a][d] -= h;
            context.setPositions(plus);
            const double ePlus = context.getState(State::Energy).getPotentialEnergy();
            context.setPositions(minus);
            const double eMinus = context.getState(State::Energy).getPotentialEnergy();
            EXPECT_NEAR(forces[a][d], -(ePlus - eMinus) / (2 * h), 1e-5 * largest) << "atom " << a << ", axis " << d;
        }
}
