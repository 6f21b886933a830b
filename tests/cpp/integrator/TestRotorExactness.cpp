// VAE moves on a molecule with methyl rotors keep the Boltzmann distribution (issue 20 item 8): the
// rotor toy of tests/data/generate (H3C-C-C-CH3, energy a sum of single-BAT-coordinate terms) with a
// bat bundle whose methyl torsions are modelled with rotor multiplicity 3 and mixture conditionals.
// Chains start from exact, independent Boltzmann samples (each BAT coordinate drawn from its own
// factor, placed by the bundle's positions_from_features), make a few moves, and the final torsions
// are compared with the exact marginals (quadrature of exp(-V/kT) of the System's torsion terms) by
// chi-square. The same check with the decoder term of ln alpha dropped must fail.

#include "BundleSchema.h"
#include "ChiSquare.h"
#include "TestData.h"
#include "ToySystems.h"
#include "VAEMCIntegrator.h"
#include "VAEMCIntegratorTestAccess.h"
#include "openmm/Context.h"
#include "openmm/HarmonicAngleForce.h"
#include "openmm/HarmonicBondForce.h"
#include "openmm/PeriodicTorsionForce.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/serialization/XmlSerializer.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

using namespace OpenMM;
using namespace VAEPlugin;

namespace {

const char* kBundle = "rotor-bat-autoregressive.pt";
const char* kSystem = "rotor-system.xml";
const double kBeta = 1.0 / VAETest::kT;

/** Atom indices of a feature name "kind:a-b[-c[-d]][-minus-r]" (names written by the trainer). */
struct FeatureName {
    std::string kind;
    std::vector<int> atoms;
    int minus = -1;  // torsion offsets: the atom whose torsion is subtracted
};

FeatureName parseName(const std::string& name) {
    FeatureName f;
    const size_t colon = name.find(':');
    f.kind = name.substr(0, colon);
    std::stringstream rest(name.substr(colon + 1));
    std::string part;
    bool minus = false;
    while (std::getline(rest, part, '-')) {
        if (part == "minus") { minus = true; continue; }
        (minus ? f.minus : (f.atoms.push_back(0), f.atoms.back())) = std::stoi(part);
    }
    return f;
}

/** The torsion energy (kJ/mol) of the System's PeriodicTorsionForce terms over atoms a-b-c-d (either direction). */
double torsionEnergy(const PeriodicTorsionForce& force, const std::vector<int>& t, double phi) {
    double v = 0;
    for (int k = 0; k < force.getNumTorsions(); k++) {
        int p[4], n;
        double phase, kk;
        force.getTorsionParameters(k, p[0], p[1], p[2], p[3], n, phase, kk);
        const bool same = p[0] == t[0] && p[1] == t[1] && p[2] == t[2] && p[3] == t[3];
        const bool reversed = p[0] == t[3] && p[1] == t[2] && p[2] == t[1] && p[3] == t[0];
        if (same || reversed) v += kk * (1.0 + std::cos(n * phi - phase));
    }
    return v;
}

/** IUPAC dihedral of four points. */
double dihedral(const Vec3& p0, const Vec3& p1, const Vec3& p2, const Vec3& p3) {
    Vec3 b0 = p0 - p1, b1 = p2 - p1, b2 = p3 - p2;
    b1 = b1 / std::sqrt(b1.dot(b1));
    Vec3 v = b0 - b1 * b0.dot(b1), w = b2 - b1 * b2.dot(b1);
    return std::atan2(b1.cross(v).dot(w), v.dot(w));
}

/** Independent exact Boltzmann samples of the rotor toy, as positions (nm). */
class ExactRotorSamples {
public:
    ExactRotorSamples(const System& system, const std::string& bundleBytes, const std::string& metadata) {
        for (int f = 0; f < system.getNumForces(); f++) {
            if (auto* b = dynamic_cast<const HarmonicBondForce*>(&system.getForce(f))) bonds = b;
            if (auto* a = dynamic_cast<const HarmonicAngleForce*>(&system.getForce(f))) angles = a;
            if (auto* t = dynamic_cast<const PeriodicTorsionForce*>(&system.getForce(f))) torsions = t;
        }
        std::istringstream in(bundleBytes);
        module = torch::jit::load(in);
        auto json = nlohmann::json::parse(metadata);
        for (const auto& name : json[BundleSchema::Metadata::kFeatures][BundleSchema::Features::kNames])
            names.push_back(parseName(name.get<std::string>()));
        numAtoms = json[BundleSchema::Metadata::kAtoms].size();
    }
    std::vector<std::vector<Vec3>> draw(int n, uint64_t seed) {
        std::mt19937_64 rng(seed);
        const int D = names.size();
        torch::Tensor x = torch::empty({n, D}, torch::kFloat64);
        torch::Tensor reference = torch::zeros({n, numAtoms, 3}, torch::kFloat64);
        for (int r = 0; r < n; r++) {
            std::map<int, double> absoluteTorsion;  // by first atom
            for (int i = 0; i < D; i++) {
                const FeatureName& f = names[i];
                double v;
                if (f.kind == "bond") v = bond(f.atoms, rng);
                else if (f.kind == "angle") v = angle(f.atoms, rng);
                else {
                    v = torsion(f.atoms, rng);
                    absoluteTorsion[f.atoms[0]] = v;
                    if (f.minus >= 0) v = std::remainder(v - absoluteTorsion.at(f.minus), 2.0 * M_PI);
                }
                x[r][i] = v;
            }
            // any frame for the external coordinates: the first three atoms of the tree's root, non-collinear
            reference[r][0][0] = 0.0;
            reference[r][1][0] = 0.15;
            reference[r][2][0] = 0.2;
            reference[r][2][1] = 0.14;
        }
        torch::NoGradGuard noGrad;
        torch::Tensor pos = module.get_method(BundleSchema::Method::kPositionsFromFeatures)({x, reference}).toTensor().to(torch::kFloat64).contiguous();
        std::vector<std::vector<Vec3>> out(n, std::vector<Vec3>(numAtoms));
        auto a = pos.accessor<double, 3>();
        for (int r = 0; r < n; r++)
            for (int k = 0; k < numAtoms; k++) out[r][k] = Vec3(a[r][k][0], a[r][k][1], a[r][k][2]);
        return out;
    }
    const PeriodicTorsionForce* torsions = nullptr;
private:
    double bond(const std::vector<int>& t, std::mt19937_64& rng) const {
        for (int k = 0; k < bonds->getNumBonds(); k++) {
            int p, q;
            double r0, kk;
            bonds->getBondParameters(k, p, q, r0, kk);
            if ((p == t[0] && q == t[1]) || (p == t[1] && q == t[0])) {
                // r^2 exp(-beta k (r - r0)^2 / 2): Gaussian proposal, accepted with (r / rmax)^2
                const double s = 1.0 / std::sqrt(kBeta * kk), rmax = r0 + 8 * s;
                std::normal_distribution<double> g(r0, s);
                std::uniform_real_distribution<double> u;
                for (;;) {
                    const double r = g(rng);
                    if (r > 0 && r < rmax && u(rng) < (r / rmax) * (r / rmax)) return r;
                }
            }
        }
        throw std::runtime_error("no bond term for a free bond feature");
    }
    double angle(const std::vector<int>& t, std::mt19937_64& rng) const {
        for (int k = 0; k < angles->getNumAngles(); k++) {
            int p, q, s;
            double a0, kk;
            angles->getAngleParameters(k, p, q, s, a0, kk);
            if (q == t[1] && ((p == t[0] && s == t[2]) || (p == t[2] && s == t[0]))) {
                // sin(theta) exp(-beta k (theta - theta0)^2 / 2)
                std::normal_distribution<double> g(a0, 1.0 / std::sqrt(kBeta * kk));
                std::uniform_real_distribution<double> u;
                for (;;) {
                    const double th = g(rng);
                    if (th > 0 && th < M_PI && u(rng) < std::sin(th)) return th;
                }
            }
        }
        throw std::runtime_error("no angle term for an angle feature");
    }
    double torsion(const std::vector<int>& t, std::mt19937_64& rng) const {
        // exp(-beta V(phi)) by rejection from the uniform, V >= 0 (terms k (1 + cos))
        std::uniform_real_distribution<double> u;
        for (;;) {
            const double phi = M_PI * (2.0 * u(rng) - 1.0);
            if (u(rng) < std::exp(-kBeta * torsionEnergy(*torsions, t, phi))) return phi;
        }
    }
    const HarmonicBondForce* bonds = nullptr;
    const HarmonicAngleForce* angles = nullptr;
    torch::jit::Module module;
    std::vector<FeatureName> names;
    int numAtoms = 0;
};

struct RotorRun {
    double chi2Methyl, chi2Offsets;
    int dofMethyl, dofOffsets;
    double acceptance;
    std::map<std::string, long long> attempted, accepted, rejectedInvalid;  // per move kind, and "" for the totals
    std::vector<double> torsionTermMeans;
};

/**
 * 1200 chains from exact samples, `moves` moves each with the given move probabilities (full, torsion);
 * chi-square of (methyl H torsion 4-0-1-2, central torsion 3-2-1-0) and of (5-0-1-2, 8-3-2-1) finals.
 */
RotorRun runChains(double fullMoves, double torsionMoves, int moves, const std::array<double, kVAEMCNumTerms>& weights) {
    std::istringstream systemXml(VAETest::dataBytes(kSystem));
    std::unique_ptr<System> system(XmlSerializer::deserialize<System>(systemXml));
    const std::string bundle = VAETest::dataBytes(kBundle);
    VAEMCIntegrator integrator(VAETest::kTemperature, 1.0, 0.001, bundle);
    integrator.setMoveRandomNumberSeed(7);
    integrator.setMoveProbabilities(fullMoves, torsionMoves);
    VAEMCIntegratorTestAccess::setTermWeights(integrator, weights);
    ExactRotorSamples exact(*system, bundle, integrator.getMetadata());
    Context context(*system, integrator, Platform::getPlatformByName("Reference"));
    const int chains = 1200;
    std::vector<std::vector<Vec3>> starts = exact.draw(chains, 11);
    std::vector<std::pair<double, double>> methyl, offsets;
    for (int k = 0; k < chains; k++) {
        context.setPositions(starts[k]);
        integrator.attemptMoves(moves);
        std::vector<Vec3> x = context.getState(State::Positions).getPositions();
        methyl.emplace_back(dihedral(x[4], x[0], x[1], x[2]), dihedral(x[3], x[2], x[1], x[0]));
        offsets.emplace_back(dihedral(x[5], x[0], x[1], x[2]), dihedral(x[8], x[3], x[2], x[1]));
    }
    const PeriodicTorsionForce& t = *exact.torsions;
    auto logDensity = [&](std::vector<int> a, std::vector<int> b) {
        return [&t, a, b](double p, double q) { return -kBeta * (torsionEnergy(t, a, p) + torsionEnergy(t, b, q)); };
    };
    RotorRun run;
    run.chi2Methyl = VAETest::chiSquare(methyl, logDensity({4, 0, 1, 2}, {3, 2, 1, 0}), -M_PI, M_PI, 12, -M_PI, M_PI, 12, &run.dofMethyl);
    run.chi2Offsets = VAETest::chiSquare(offsets, logDensity({5, 0, 1, 2}, {8, 3, 2, 1}), -M_PI, M_PI, 12, -M_PI, M_PI, 12, &run.dofOffsets);
    run.acceptance = integrator.getAcceptanceRate();
    for (const std::string& kind : VAEMCIntegrator::getMoveKindNames()) {
        run.attempted[kind] = integrator.getNumAttempted(kind);
        run.accepted[kind] = integrator.getNumAccepted(kind);
        run.rejectedInvalid[kind] = integrator.getNumRejectedInvalid(kind);
    }
    run.attempted[""] = integrator.getNumAttempted();
    run.accepted[""] = integrator.getNumAccepted();
    run.rejectedInvalid[""] = integrator.getNumRejectedInvalid();
    run.torsionTermMeans = integrator.getTermMeans("torsion");
    std::cout << "[rotor] moves (full " << fullMoves << ", torsion " << torsionMoves << ") x " << moves << ": acceptance "
              << run.acceptance << ", chi2 " << run.chi2Methyl << " / " << run.dofMethyl << " dof and " << run.chi2Offsets
              << " / " << run.dofOffsets << " dof\n";
    return run;
}

void expectExact(const RotorRun& r) {
    EXPECT_GT(r.acceptance, 0.2);
    EXPECT_TRUE(VAETest::chiSquarePasses(r.chi2Methyl, r.dofMethyl)) << r.chi2Methyl << " / " << r.dofMethyl;
    EXPECT_TRUE(VAETest::chiSquarePasses(r.chi2Offsets, r.dofOffsets)) << r.chi2Offsets << " / " << r.dofOffsets;
}

} // namespace

TEST(RotorExactness, FullMovesSampleTheTorsionsExactly) {
    RotorRun r = runChains(1, 0, 4, {1, 1, 1, 1, 1});
    expectExact(r);
    EXPECT_EQ(r.attempted["full"], 4800);
    EXPECT_EQ(r.attempted["torsion"], 0);
}

TEST(RotorExactness, TorsionMovesSampleTheTorsionsExactly) {
    RotorRun r = runChains(0, 1, 4, {1, 1, 1, 1, 1});
    expectExact(r);
    EXPECT_EQ(r.attempted["torsion"], 4800);
    EXPECT_EQ(r.attempted["full"], 0);
    // bonds and angles are kept: the Jacobian term of every torsion move is 0 up to rounding
    ASSERT_EQ(r.torsionTermMeans.size(), 5u);
    EXPECT_LT(std::abs(r.torsionTermMeans[4]), 1e-9);
}

TEST(RotorExactness, MixedMovesSampleTheTorsionsExactly) {
    RotorRun r = runChains(0.5, 0.5, 4, {1, 1, 1, 1, 1});
    expectExact(r);
    // the statistics of the kinds add up to the totals
    EXPECT_EQ(r.attempted["full"] + r.attempted["torsion"], 4800);
    EXPECT_GT(r.attempted["full"], 2000);
    EXPECT_GT(r.attempted["torsion"], 2000);
    EXPECT_EQ(r.accepted["full"] + r.accepted["torsion"], r.accepted[""]);
    EXPECT_EQ(r.rejectedInvalid["full"] + r.rejectedInvalid["torsion"], r.rejectedInvalid[""]);
    EXPECT_GT(r.accepted["full"], 0);
    EXPECT_GT(r.accepted["torsion"], 0);
}

TEST(RotorExactness, CheckFailsWithTheDecoderTermDropped) {
    // ln P(x|z) - ln P(x'|z') left out: the chains drift towards where the decoder proposes often
    RotorRun r = runChains(0.5, 0.5, 12, {1, 1, 1, 0, 1});
    EXPECT_FALSE(VAETest::chiSquarePasses(r.chi2Methyl, r.dofMethyl) && VAETest::chiSquarePasses(r.chi2Offsets, r.dofOffsets));
}
