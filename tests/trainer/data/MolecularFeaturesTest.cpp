// Molecular features: the BAT tree, the bat and cartesian feature maps of the bundle (round trips,
// ln J against a numerical Jacobian, invariance to rigid motions) and the DCD/PDB readers.
#include "DcdWriter.h"
#include "BundleWriter.h"
#include "Dataset.h"
#include "FeatureMaps.h"
#include "MolecularFeatures.h"
#include "Trajectory.h"
#include "TrajectoryDataset.h"
#include "Training.h"

#include "TestDirectory.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

using namespace VAEPlugin;
namespace fs = std::filesystem;

namespace {

using Vec = std::array<double, 3>;
const double kPi = 3.14159265358979323846;

// Alanine dipeptide (Ace-Ala-Nme) in AMBER atom order: elements and the 21 bonds of its tree.
const std::vector<std::string> kElements = {"H", "C", "H", "H", "C", "O", "N", "H", "C", "H", "C",
                                            "H", "H", "H", "C", "O", "N", "H", "C", "H", "H", "H"};
const std::vector<std::pair<int, int>> kBonds = {{0, 1},   {1, 2},   {1, 3},   {1, 4},   {4, 5},   {4, 6},   {6, 7},
                                                 {6, 8},   {8, 9},   {8, 10},  {8, 14},  {10, 11}, {10, 12}, {10, 13},
                                                 {14, 15}, {14, 16}, {16, 17}, {16, 18}, {18, 19}, {18, 20}, {18, 21}};

Vec sub(Vec a, Vec b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec add(Vec a, Vec b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
Vec scale(Vec a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
Vec cross(Vec a, Vec b) { return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]}; }
double dot(Vec a, Vec b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec unit(Vec a) { return scale(a, 1.0 / std::sqrt(dot(a, a))); }

/** d with |cd| = r, angle(b, c, d) = theta, torsion (a, b, c, d) = phi. */
Vec place(Vec a, Vec b, Vec c, double r, double theta, double phi) {
    Vec bc = unit(sub(c, b)), n = unit(cross(sub(b, a), bc)), m = cross(n, bc);
    return add(c, add(scale(bc, -r * std::cos(theta)), add(scale(m, r * std::sin(theta) * std::cos(phi)), scale(n, r * std::sin(theta) * std::sin(phi)))));
}

double bondLength(int a, int b, std::mt19937& rng) {
    // X-H bonds fixed (as under hbonds constraints); heavy-atom bonds vary with the conformation.
    if (kElements[a] == "H" || kElements[b] == "H") return kElements[a] == "N" || kElements[b] == "N" ? 0.101 : 0.109;
    return 0.142 + 0.01 * std::uniform_real_distribution<double>(-1, 1)(rng);
}

/**
 * A random alanine-like conformation [22, 3] (nm), written independently of the bundle's code:
 * atoms placed along the bond graph from atom 1 with random heavy bond lengths, angles in
 * [95, 125] degrees, random torsions (siblings about 120 degrees apart), then a random rigid motion.
 */
torch::Tensor randomAlanine(int seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> angle(95.0 * M_PI / 180, 125.0 * M_PI / 180), torsion(-M_PI, M_PI), shift(-1, 1);
    std::vector<std::vector<int>> nb(22);
    for (auto b : kBonds) {
        nb[b.first].push_back(b.second);
        nb[b.second].push_back(b.first);
    }
    std::vector<Vec> p(22);
    std::vector<bool> placed(22, false);
    int a = 1, b = 4, c = 0;  // CH3, C, HH31
    p[a] = {0, 0, 0};
    p[b] = {bondLength(a, b, rng), 0, 0};
    double t = angle(rng);
    p[c] = {bondLength(a, c, rng) * std::cos(t), bondLength(a, c, rng) * std::sin(t), 0};
    placed[a] = placed[b] = placed[c] = true;
    std::vector<int> queue = {a, b, c};
    for (size_t q = 0; q < queue.size(); q++) {
        int j = queue[q];
        // Siblings 120 degrees apart (plus noise) around a random base torsion, so they do not overlap.
        double base = torsion(rng);
        int sibling = 0;
        for (int i : nb[j]) {
            if (placed[i]) continue;
            int k = -1, l = -1;
            for (int x : nb[j]) if (placed[x] && x != i) { k = x; break; }
            for (int x : nb[k]) if (placed[x] && x != j) { l = x; break; }
            if (l < 0) for (int x : nb[j]) if (placed[x] && x != i && x != k) { l = x; break; }
            double phi = base + 2 * M_PI / 3 * sibling++ + 0.3 * torsion(rng) / M_PI;
            p[i] = place(p[l], p[k], p[j], bondLength(i, j, rng), angle(rng), phi);
            placed[i] = true;
            queue.push_back(i);
        }
    }
    torch::Tensor x = torch::empty({22, 3}, torch::kFloat64);
    for (int i = 0; i < 22; i++)
        for (int d = 0; d < 3; d++) x[i][d] = p[i][d];
    torch::manual_seed(seed);
    auto q = std::get<0>(at::linalg_qr(torch::randn({3, 3}, torch::kFloat64)));
    if (at::linalg_det(q).item<double>() < 0) q = -q;
    return torch::matmul(x, q) + torch::randn({1, 3}, torch::kFloat64);
}

/** All pairwise distances of [n, 3]. */
torch::Tensor distances(const torch::Tensor& x) {
    return (x.unsqueeze(0) - x.unsqueeze(1)).pow(2).sum(-1).sqrt();
}

std::vector<int> range(int n) {
    std::vector<int> v(n);
    for (int i = 0; i < n; i++) v[i] = i;
    return v;
}

/** The bat spec of the selected atoms (System order) with X-H constraints at the generator's lengths. */
FeatureSpec alanineBat(const std::vector<int>& atoms, const std::string& constraints) {
    BatTree tree = buildBatTree(atoms, kElements, kBonds, constraints);
    std::mt19937 rng(0);
    for (size_t r = 0; r < tree.rows.size(); r++)
        if (tree.constrained[r]) tree.bondLength[r] = bondLength(atoms[tree.rows[r][0]], atoms[tree.rows[r][1]], rng);
    return FeatureSpec::makeBat(atoms, tree, constraints);
}

std::pair<torch::Tensor, torch::Tensor> featurize(torch::jit::Module& m, const torch::Tensor& positions) {
    auto out = m.get_method("featurize")({positions}).toTuple();
    return {out->elements()[0].toTensor(), out->elements()[1].toTensor()};
}

double maxAbs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

/** No non-bonded pair closer than 0.01 nm beyond the bond cutoff R_i + R_j + 0.045 nm. */
bool clashFree(const torch::Tensor& x) {
    torch::Tensor bonded = torch::eye(22, torch::kBool);
    for (auto b : kBonds) bonded[b.first][b.second] = bonded[b.second][b.first] = true;
    torch::Tensor d = distances(x);
    for (int i = 0; i < 22; i++)
        for (int j = i + 1; j < 22; j++)
            if (!bonded[i][j].item<bool>() && d[i][j].item<double>() < covalentRadius(kElements[i]) + covalentRadius(kElements[j]) + 0.055)
                return false;
    return true;
}

} // namespace

TEST(MolecularFeatures, AlanineTreeHas48FeaturesWithHBonds) {
    FeatureSpec hbonds = alanineBat(range(22), "hbonds");
    EXPECT_EQ(hbonds.numFeatures(), 48);  // 3 root internals, 7 heavy bonds, 19 angles, 19 torsions
    EXPECT_EQ(hbonds.bat.rows.size(), 19u);
    EXPECT_EQ(hbonds.bat.freeRows().size(), 7u);
    int periodic = 0;
    for (bool p : hbonds.periodic) periodic += p;
    EXPECT_EQ(periodic, 19);
    for (int r : hbonds.bat.root) EXPECT_NE(kElements[r], "H");
    EXPECT_EQ(alanineBat(range(22), "none").numFeatures(), 60);
    std::vector<int> heavy;
    for (int i = 0; i < 22; i++)
        if (kElements[i] != "H") heavy.push_back(i);
    EXPECT_EQ(alanineBat(heavy, "hbonds").numFeatures(), 24);
    nlohmann::json j = featuresMetadata(hbonds);
    EXPECT_EQ(j["constraints"], "hbonds");
    ASSERT_EQ(j["constrained_bonds"].size(), 12u);
    for (const auto& b : j["constrained_bonds"]) {
        int i = b[0], k = b[1];
        EXPECT_TRUE(kElements[i] == "H" || kElements[k] == "H");
        EXPECT_NEAR(b[2].get<double>(), kElements[i] == "N" || kElements[k] == "N" ? 0.101 : 0.109, 1e-12);
    }
}

TEST(MolecularFeatures, BatTreeErrors) {
    EXPECT_THROW(buildBatTree({0, 1, 2, 3}, kElements, kBonds, "hbonds"), std::invalid_argument);  // one heavy atom
    try {
        buildBatTree({1, 4, 5, 6, 8, 18}, kElements, kBonds, "hbonds");  // 18 is not bonded to the others
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("atom 18"), std::string::npos) << e.what();
    }
    EXPECT_THROW(buildBatTree(range(22), kElements, kBonds, "allbonds"), std::invalid_argument);
}

namespace {

/** Per row of `tree` built over all atoms: the atom j whose first child the row is, for rows with multiplicity > 1, with m. */
std::map<int, int> rotorsByAtom(const BatTree& tree) {
    std::map<int, int> rotors;
    EXPECT_EQ(tree.rotorMultiplicity.size(), tree.rows.size());
    for (size_t r = 0; r < tree.rotorMultiplicity.size(); r++)
        if (tree.rotorMultiplicity[r] != 1) {
            EXPECT_EQ(tree.torsionReference[r], static_cast<int>(r)) << "a rotor's torsion is an absolute one (first sibling)";
            EXPECT_EQ(rotors.count(tree.rows[r][1]), 0u) << "one rotor per atom";
            rotors[tree.rows[r][1]] = tree.rotorMultiplicity[r];
        }
    return rotors;
}

/** Elements and bonds of a molecule given as heavy atoms (element, heavy bonds) with `hydrogens[a]` H atoms on heavy atom a, H atoms appended. */
struct Molecule {
    std::vector<std::string> elements;
    std::vector<std::pair<int, int>> bonds;
    Molecule(const std::vector<std::string>& heavy, const std::vector<std::pair<int, int>>& heavyBonds, const std::vector<int>& hydrogens)
        : elements(heavy), bonds(heavyBonds) {
        for (size_t a = 0; a < heavy.size(); a++)
            for (int h = 0; h < hydrogens[a]; h++) {
                bonds.push_back({static_cast<int>(a), static_cast<int>(elements.size())});
                elements.push_back("H");
            }
    }
    BatTree tree() const { return buildBatTree(range(elements.size()), elements, bonds, "hbonds"); }
};

} // namespace

TEST(MolecularFeatures, AlanineRotorsAreItsThreeMethyls) {
    // ACE CH3 (atom 1, the tree's r0), ALA CB (10) and NME CH3 (18); NH, CA, C=O are not rotors.
    for (const std::string constraints : {"hbonds", "none"}) {
        FeatureSpec spec = alanineBat(range(22), constraints);
        EXPECT_EQ(rotorsByAtom(spec.bat), (std::map<int, int>{{1, 3}, {10, 3}, {18, 3}})) << constraints;
        // Per feature: m = 3 on the torsion of each methyl's first H, 1 elsewhere.
        ASSERT_EQ(spec.multiplicity.size(), static_cast<size_t>(spec.numFeatures()));
        int rows = spec.bat.rows.size(), firstTorsion = spec.numFeatures() - rows, threes = 0;
        for (int i = 0; i < spec.numFeatures(); i++) {
            int row = i - firstTorsion;
            bool rotor = row >= 0 && spec.bat.rotorMultiplicity[row] == 3;
            EXPECT_EQ(spec.multiplicity[i], rotor ? 3 : 1) << spec.names[i];
            if (rotor) {
                threes++;
                EXPECT_TRUE(spec.periodic[i]);
                EXPECT_EQ(kElements[spec.bat.rows[row][0]], "H") << spec.names[i];
                EXPECT_EQ(spec.names[i].find("minus"), std::string::npos) << spec.names[i];
            }
        }
        EXPECT_EQ(threes, 3);
    }
    // Without hydrogens the methyl carbons have no substituents: no rotors.
    std::vector<int> heavy;
    for (int i = 0; i < 22; i++)
        if (kElements[i] != "H") heavy.push_back(i);
    FeatureSpec heavySpec = alanineBat(heavy, "hbonds");
    EXPECT_TRUE(rotorsByAtom(heavySpec.bat).empty());
    for (int m : heavySpec.multiplicity) EXPECT_EQ(m, 1);
}

TEST(MolecularFeatures, RotorsOfSmallTopologies) {
    // Propane (ethane has no tree: the root needs three heavy atoms): both methyls are 3-fold rotors,
    // one as the root atom r0, one as r2; the central CH2 (r1) is not.
    Molecule propane({"C", "C", "C"}, {{0, 1}, {1, 2}}, {3, 2, 3});
    EXPECT_EQ(rotorsByAtom(propane.tree()), (std::map<int, int>{{0, 3}, {2, 3}}));
    // 1-chlorobutane CH3-CH2-CH2-CH2Cl: only the methyl; CH2Cl (a row atom: Cl, H, H) is no rotor.
    Molecule chlorobutane({"C", "C", "C", "C", "Cl"}, {{0, 1}, {1, 2}, {2, 3}, {3, 4}}, {3, 2, 2, 2, 0});
    EXPECT_EQ(rotorsByAtom(chlorobutane.tree()), (std::map<int, int>{{0, 3}}));
    // 2,2,4,4-tetramethylpentane CH2[C(CH3)3]2 with the CH2 first: root (CH2, Ca, Ma1); the tert-butyl
    // Cb (a row under CH2) is a 3-fold rotor and so is each of the six methyls; CH2 and Ca (root) are not.
    Molecule tmp({"C", "C", "C", "C", "C", "C", "C", "C", "C"},
                 {{0, 1}, {0, 2}, {1, 3}, {1, 4}, {1, 5}, {2, 6}, {2, 7}, {2, 8}}, {2, 0, 0, 3, 3, 3, 3, 3, 3});
    BatTree tree = tmp.tree();
    EXPECT_EQ((std::array<int, 3>{tree.root[0], tree.root[1], tree.root[2]}), (std::array<int, 3>{0, 1, 3}));
    EXPECT_EQ(rotorsByAtom(tree), (std::map<int, int>{{2, 3}, {3, 3}, {4, 3}, {5, 3}, {6, 3}, {7, 3}, {8, 3}}));
    // An NH3+ group (ethylammonium) is a rotor like CH3; a ring is none (cyclopropyl-methane: only the methyl).
    Molecule ethylammonium({"C", "C", "N"}, {{0, 1}, {1, 2}}, {3, 2, 3});
    EXPECT_EQ(rotorsByAtom(ethylammonium.tree()), (std::map<int, int>{{0, 3}, {2, 3}}));
    Molecule methylcyclopropane({"C", "C", "C", "C"}, {{0, 1}, {1, 2}, {2, 3}, {3, 1}}, {3, 1, 2, 2});
    EXPECT_EQ(rotorsByAtom(methylcyclopropane.tree()), (std::map<int, int>{{0, 3}}));
    // An isopropyl CH(CH3)2 is no rotor (H and two CH3); its methyls are.
    Molecule isobutane({"C", "C", "C", "C"}, {{0, 1}, {1, 2}, {1, 3}}, {3, 1, 3, 3});
    EXPECT_EQ(rotorsByAtom(isobutane.tree()), (std::map<int, int>{{0, 3}, {2, 3}, {3, 3}}));
    // A tree whose multiplicities do not fit its rows is refused.
    BatTree bad = propane.tree();
    bad.rotorMultiplicity.pop_back();
    EXPECT_THROW(FeatureSpec::makeBat(range(bad.rows.size() + 3), bad, "hbonds"), std::invalid_argument);
}

TEST(MolecularFeatures, RotorsOptionIsValidatedAndRecorded) {
    TrainConfig config;
    config.trajectory.path = "a.dcd";
    config.trajectory.topology = "a.pdb";
    config.trajectory.features = FeatureKind::Bat;
    config.out = "out";
    config.validate();
    EXPECT_EQ(config.toJson()["rotors"], "auto");  // part of the settings a resume must match
    config.trajectory.rotors = "none";
    EXPECT_EQ(config.toJson()["rotors"], "none");
    config.trajectory.rotors = "sometimes";
    try {
        config.validate();
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("--rotors"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("sometimes"), std::string::npos) << e.what();
    }
}

TEST(MolecularFeatures, InferredBondsAreTheMoleculesBonds) {
    // Conformations without close contacts (every non-bonded pair 0.01 nm beyond the bond cutoff,
    // R_i + R_j + 0.045 nm) have exactly the molecule's bonds: the bonded pairs all fall inside it.
    std::vector<std::pair<int, int>> expected = kBonds;
    std::sort(expected.begin(), expected.end());
    int tested = 0;
    for (int seed = 1; seed < 400 && tested < 5; seed++) {
        torch::Tensor x = randomAlanine(seed);
        if (!clashFree(x)) continue;
        tested++;
        std::vector<double> p(x.data_ptr<double>(), x.data_ptr<double>() + 66);
        EXPECT_EQ(inferBonds(kElements, p, {}), expected) << "seed " << seed;
        // CONECT bonds are added to the inferred ones.
        auto withExtra = inferBonds(kElements, p, {{21, 0}});
        EXPECT_EQ(withExtra.size(), expected.size() + 1);
        EXPECT_TRUE(std::find(withExtra.begin(), withExtra.end(), std::make_pair(0, 21)) != withExtra.end());
    }
    EXPECT_GE(tested, 3);
    EXPECT_THROW(inferBonds({"C", "Xx"}, {0, 0, 0, 0.1, 0, 0}, {}), std::invalid_argument);
}

TEST(MolecularFeatures, BatRoundTripReproducesGeometry) {
    std::mt19937 rng(7);
    for (const std::string constraints : {"hbonds", "none"}) {
        // Atoms in a random System order.
        std::vector<int> order = range(22);
        std::shuffle(order.begin(), order.end(), rng);
        FeatureSpec spec = alanineBat(order, constraints);
        torch::jit::Module m = makeFeatureModule(spec);
        std::vector<torch::Tensor> confs;
        for (int s = 0; s < 8; s++) confs.push_back(randomAlanine(100 + s).index_select(0, torch::tensor(std::vector<int64_t>(order.begin(), order.end()))));
        torch::Tensor x = torch::stack(confs);
        auto [features, logJ] = featurize(m, x);
        ASSERT_EQ(features.size(1), spec.numFeatures());
        // Same features, reference = the same state: the positions themselves come back.
        torch::Tensor back = m.get_method("positions_from_features")({features, x}).toTensor();
        EXPECT_LT(maxAbs(back - x), 1e-9) << constraints;
        // Reference = another conformation: internal geometry of x, external frame of the reference.
        torch::Tensor other = x.roll(1, 0);
        back = m.get_method("positions_from_features")({features, other}).toTensor();
        for (int b = 0; b < 8; b++) EXPECT_LT(maxAbs(distances(back[b]) - distances(x[b])), 1e-6) << constraints;
        int r0 = spec.bat.root[0], r1 = spec.bat.root[1];
        EXPECT_LT(maxAbs(back.select(1, r0) - other.select(1, r0)), 1e-12);
        auto direction = [&](const torch::Tensor& y) {
            auto v = y.select(1, r1) - y.select(1, r0);
            return v / v.norm(2, 1, true);
        };
        EXPECT_LT(maxAbs(direction(back) - direction(other)), 1e-9);
        auto [again, logJAgain] = featurize(m, back);
        torch::Tensor diff = again - features;
        diff = torch::remainder(diff + kPi, 2 * kPi) - kPi;
        EXPECT_LT(maxAbs(diff), 1e-9);
    }
}

// ln J against log|det| of the numerical Jacobian of x -> (6 external coordinates, 3n - 6 internal
// features). External: r0 (3), polar and azimuthal angles (alpha, beta) of r0->r1, and the torsion
// of (r0 + e, r0, r1, r2) for a fixed vector e; its Jacobian carries r01^2 sin(alpha) beyond ln J's terms
// (r01^2 is ln J's root bond term), so log|det dq/dx| = -(ln J + ln sin alpha).
TEST(MolecularFeatures, BatLogJacobianMatchesNumericalJacobian) {
    std::vector<int> order = range(22);
    std::shuffle(order.begin(), order.end(), std::mt19937(3));
    FeatureSpec none = alanineBat(order, "none"), hbonds = alanineBat(order, "hbonds");
    torch::jit::Module mNone = makeFeatureModule(none), mH = makeFeatureModule(hbonds);
    int r0 = none.bat.root[0], r1 = none.bat.root[1], r2 = none.bat.root[2];
    auto coordinates = [&](const torch::Tensor& x) {  // x [22, 3] -> [66]
        auto f = featurize(mNone, x.unsqueeze(0)).first[0];
        auto v = x[r1] - x[r0];
        double alpha = std::acos(v[2].item<double>() / v.norm().item<double>());
        double beta = std::atan2(v[1].item<double>(), v[0].item<double>());
        auto e = torch::tensor({0.3, 0.7, -0.2}, torch::kFloat64);
        auto a = x[r0] + e, b = x[r0], c = x[r1], d = x[r2];
        auto b1 = b - a, b2 = c - b, b3 = d - c;
        auto n1 = torch::cross(b1, b2, 0), n2 = torch::cross(b2, b3, 0);
        double gamma = std::atan2((b1 * n2).sum().item<double>() * b2.norm().item<double>(), (n1 * n2).sum().item<double>());
        auto ext = torch::tensor({x[r0][0].item<double>(), x[r0][1].item<double>(), x[r0][2].item<double>(), alpha, beta, gamma},
                                 torch::kFloat64);
        return std::make_pair(torch::cat({ext, f}), alpha);
    };
    for (int s = 0; s < 4; s++) {
        torch::Tensor x = randomAlanine(200 + s).index_select(0, torch::tensor(std::vector<int64_t>(order.begin(), order.end())));
        auto [q, alpha] = coordinates(x);
        torch::Tensor jac = torch::empty({66, 66}, torch::kFloat64);
        const double h = 1e-6;
        for (int c = 0; c < 66; c++) {
            torch::Tensor plus = x.clone(), minus = x.clone();
            plus.view({-1})[c] += h;
            minus.view({-1})[c] -= h;
            torch::Tensor diff = coordinates(plus).first - coordinates(minus).first;
            diff = torch::remainder(diff + kPi, 2 * kPi) - kPi;  // angles may wrap
            jac.select(1, c).copy_(diff / (2 * h));
        }
        double logDet = std::get<1>(at::linalg_slogdet(jac)).item<double>();
        double logJ = featurize(mNone, x.unsqueeze(0)).second.item<double>();
        EXPECT_NEAR(logDet, -(logJ + std::log(std::sin(alpha))), 1e-5) << "seed " << s;
        // With hbonds, ln J drops the constrained bonds' 2 ln r (a constant on the constraint surface).
        double logJH = featurize(mH, x.unsqueeze(0)).second.item<double>();
        double constrained = 0;
        for (size_t r = 0; r < hbonds.bat.rows.size(); r++)
            if (hbonds.bat.constrained[r]) constrained += 2 * std::log(hbonds.bat.bondLength[r]);
        EXPECT_NEAR(logJ - logJH, constrained, 1e-9);
    }
}

TEST(MolecularFeatures, CartesianFeaturesIgnoreRigidMotions) {
    std::vector<int> atoms = {3, 1, 4, 6, 8, 10, 14, 16, 18, 5};
    torch::Tensor reference = randomAlanine(50).index_select(0, torch::tensor(std::vector<int64_t>(atoms.begin(), atoms.end())));
    std::vector<double> ref(reference.data_ptr<double>(), reference.data_ptr<double>() + 30);
    FeatureSpec spec = FeatureSpec::cartesian(atoms, ref);
    torch::jit::Module m = makeFeatureModule(spec);
    // The reference maps to itself.
    EXPECT_LT(maxAbs(featurize(m, reference.unsqueeze(0)).first[0] - reference.reshape({30})), 1e-9);
    torch::Tensor x = randomAlanine(51).index_select(0, torch::tensor(std::vector<int64_t>(atoms.begin(), atoms.end()))).unsqueeze(0);
    auto [f, logJ] = featurize(m, x);
    EXPECT_EQ(maxAbs(logJ), 0.0);
    for (int s = 0; s < 5; s++) {
        torch::manual_seed(s);
        auto q = std::get<0>(at::linalg_qr(torch::randn({3, 3}, torch::kFloat64)));
        if (at::linalg_det(q).item<double>() < 0) q = -q;
        torch::Tensor moved = torch::matmul(x, q) + torch::randn({1, 1, 3}, torch::kFloat64) * 3;
        EXPECT_LT(maxAbs(featurize(m, moved).first - f), 1e-9);
        // A reflection is not a rotation: its features differ.
        if (s == 0) EXPECT_GT(maxAbs(featurize(m, -moved).first - f), 1e-3);
    }
    // The aligned structure is as close to the reference as any rotation of it (Kabsch optimum).
    torch::Tensor aligned = f.reshape({10, 3});
    double best = (aligned - reference).pow(2).sum().item<double>();
    for (int s = 0; s < 20; s++) {
        torch::manual_seed(100 + s);
        auto small = torch::randn({3}, torch::kFloat64) * 0.05;
        auto k = torch::zeros({3, 3}, torch::kFloat64);
        k[0][1] = -small[2]; k[0][2] = small[1]; k[1][0] = small[2]; k[1][2] = -small[0]; k[2][0] = -small[1]; k[2][1] = small[0];
        auto rot = torch::matrix_exp(k);
        auto center = reference.mean(0);
        auto perturbed = torch::matmul(aligned - center, rot) + center;
        EXPECT_GE((perturbed - reference).pow(2).sum().item<double>(), best - 1e-12);
    }
    // Rebuilding positions places the aligned coordinates in the reference's frame.
    torch::Tensor back = m.get_method("positions_from_features")({f, x}).toTensor();
    EXPECT_LT(maxAbs(back - aligned.unsqueeze(0)), 1e-15);
}

namespace {

std::string tempDir(const std::string& name) { return freshTestDirectory("molecular-test", name); }

} // namespace

TEST(Trajectory, DcdReadsFramesInNanometres) {
    std::string dir = tempDir("dcd");
    torch::manual_seed(1);
    torch::Tensor frames = torch::randn({5, 7, 3}, torch::kFloat64);
    for (bool cell : {false, true}) {
        VAETest::writeDcd(dir + "/t.dcd", frames, cell);
        torch::Tensor read = readDcd(dir + "/t.dcd");
        ASSERT_EQ(read.sizes(), frames.sizes());
        EXPECT_LT(maxAbs(read - frames), 1e-6);
    }
    // Truncated: the last frame loses bytes.
    auto size = fs::file_size(dir + "/t.dcd");
    fs::resize_file(dir + "/t.dcd", size - 10);
    try {
        readDcd(dir + "/t.dcd");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("t.dcd"), std::string::npos) << e.what();
    }
    std::ofstream(dir + "/bad.dcd") << "not a trajectory at all";
    EXPECT_THROW(readDcd(dir + "/bad.dcd"), std::runtime_error);
    EXPECT_THROW(readDcd(dir + "/missing.dcd"), std::runtime_error);
}

TEST(Trajectory, PdbAtomsElementsAndConect) {
    std::string dir = tempDir("pdb");
    std::ofstream(dir + "/m.pdb") << "REMARK test\n"
                                     "ATOM      1  C1  MOL A   1       1.000   2.000   3.000  1.00  0.00           C\n"
                                     "HETATM    2 CL1  MOL A   1       2.000   2.000   3.000  1.00  0.00          CL\n"
                                     "ATOM      3 HB2  MOL A   1       0.000   2.000   3.000  1.00  0.00\n"
                                     "CONECT    1    2    3\n"
                                     "END\n";
    PdbTopology top = readPdb(dir + "/m.pdb");
    ASSERT_EQ(top.numAtoms(), 3);
    EXPECT_EQ(top.elements, (std::vector<std::string>{"C", "Cl", "H"}));
    EXPECT_EQ(top.names[1], "CL1");
    EXPECT_NEAR(top.positions[0], 0.1, 1e-12);
    EXPECT_NEAR(top.positions[5], 0.3, 1e-12);
    EXPECT_EQ(top.conect, (std::vector<std::pair<int, int>>{{0, 1}, {0, 2}}));
    std::ofstream(dir + "/bad.pdb") << "ATOM      1  C1  MOL A   1       1.000   abc     3.000  1.00  0.00           C\n";
    try {
        readPdb(dir + "/bad.pdb");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
    }
    std::ofstream(dir + "/empty.pdb") << "REMARK nothing\n";
    EXPECT_THROW(readPdb(dir + "/empty.pdb"), std::runtime_error);
}

namespace {

/** A PDB of the first of alanine-like frames [F, 22, 3] (nm), atom names numbered so each is unique. */
void writeAlaninePdb(const std::string& path, const torch::Tensor& frames) {
    std::ofstream pdb(path);
    char line[100];
    for (int i = 0; i < 22; i++) {
        std::snprintf(line, sizeof line, "ATOM  %5d %-4s ALA A   1    %8.3f%8.3f%8.3f  1.00  0.00          %2s\n", i + 1,
                      (kElements[i] + std::to_string(i)).c_str(), 10 * frames[0][i][0].item<double>(),
                      10 * frames[0][i][1].item<double>(), 10 * frames[0][i][2].item<double>(), kElements[i].c_str());
        pdb << line;
    }
}

} // namespace

TEST(Trajectory, DatasetFromTrajectoryChecksAtomsAndSelection) {
    std::string dir = tempDir("dataset");
    // Alanine-like frames and a PDB of their first frame.
    std::vector<torch::Tensor> confs;
    for (int s = 0; s < 6; s++) confs.push_back(randomAlanine(300));  // same geometry: bonds inferable
    torch::Tensor frames = torch::stack(confs);
    VAETest::writeDcd(dir + "/a.dcd", frames, false);
    writeAlaninePdb(dir + "/a.pdb", frames);
    TrajectoryOptions o;
    o.path = dir + "/a.dcd";
    o.topology = dir + "/a.pdb";
    o.features = FeatureKind::Bat;
    o.atomSelection = "heavy";
    Dataset heavy = trajectoryDataset(o);
    EXPECT_EQ(heavy.data.size(0), 6);
    EXPECT_EQ(heavy.data.size(1), 24);
    EXPECT_EQ(heavy.features.atoms.size(), 10u);
    o.atomSelection = "all";
    Dataset all = trajectoryDataset(o);
    EXPECT_EQ(all.data.size(1), 48);
    int threeFold = 0;
    for (int m : all.features.multiplicity) threeFold += m == 3;
    EXPECT_EQ(threeFold, 3);  // the methyls (--rotors auto)
    o.rotors = "none";
    EXPECT_TRUE(trajectoryDataset(o).features.multiplicity.empty());
    o.rotors = "auto";
    for (const auto& b : featuresMetadata(all.features)["constrained_bonds"]) EXPECT_NEAR(b[2].get<double>(), 0.105, 0.0045);
    o.features = FeatureKind::Cartesian;
    Dataset cart = trajectoryDataset(o);
    EXPECT_EQ(cart.data.size(1), 66);
    o.atoms = {0, 1, 99};
    try {
        trajectoryDataset(o);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("index 99"), std::string::npos) << e.what();
    }
    o.atoms.clear();
    VAETest::writeDcd(dir + "/short.dcd", frames.slice(1, 0, 20), false);
    o.path = dir + "/short.dcd";
    try {
        trajectoryDataset(o);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("20 atoms"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("22"), std::string::npos) << e.what();
    }
}

namespace {

/** A DCD of alanine-like conformations and a PDB of its first frame; returns the frames. */
torch::Tensor writeAlanineTrajectory(const std::string& dir, int numFrames, int firstSeed) {
    std::vector<torch::Tensor> confs;
    int seed = firstSeed;
    while (!clashFree(randomAlanine(seed))) seed++;  // bonds are inferred from the first frame
    for (int s = 0; s < numFrames; s++) confs.push_back(randomAlanine(seed + s));
    torch::Tensor frames = torch::stack(confs);
    VAETest::writeDcd(dir + "/a.dcd", frames, false);
    writeAlaninePdb(dir + "/a.pdb", frames);
    return frames;
}

} // namespace

// The bundle written to disk computes the same features, positions and latent means as the
// in-memory feature module and trained model.
TEST(MolecularFeatures, SavedBundleReproducesFeaturesAndModel) {
    for (const std::string kind : {"bat", "cartesian"}) {
        std::string dir = tempDir("bundle-" + kind);
        writeAlanineTrajectory(dir, 40, 1000);
        torch::Tensor frames = readDcd(dir + "/a.dcd");  // float32-rounded, as the trainer saw them
        TrainConfig c;
        c.trajectory.path = dir + "/a.dcd";
        c.trajectory.topology = dir + "/a.pdb";
        c.trajectory.features = *parseFeatureKind(kind);
        c.decoder = DecoderKind::Autoregressive;
        c.latent = 2;
        c.hidden = 16;
        c.betas = {"1"};
        c.epochs = 2;
        c.anneal = 1;
        c.batch = 16;
        c.out = dir + "/out";
        c.quiet = true;
        c.threads = 1;
        torch::jit::Module model = train(c, std::cout);
        Dataset data = loadDataset(c, c.seed);
        torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
        torch::jit::Module bundle = torch::jit::load(c.out + "/beta-1/model.pt", torch::kCPU, extra);
        auto meta = nlohmann::json::parse(extra.at("metadata.json"));
        EXPECT_EQ(meta["features"], featuresMetadata(data.features));
        torch::jit::Module features = makeFeatureModule(data.features);
        auto [f, logJ] = featurize(features, frames);
        auto [fb, logJb] = featurize(bundle, frames);
        EXPECT_TRUE(torch::equal(f, fb)) << kind;
        EXPECT_TRUE(torch::equal(logJ, logJb)) << kind;
        EXPECT_TRUE(torch::equal(f, data.data)) << kind;  // the training data are these features
        torch::Tensor shifted = f.roll(1, 0);
        EXPECT_TRUE(torch::equal(features.get_method("positions_from_features")({shifted, frames}).toTensor(),
                                 bundle.get_method("positions_from_features")({shifted, frames}).toTensor()));
        // Latent mean = the trained model's encoder on the standardised features.
        auto mean = torch::tensor(meta["standardization"]["mean"].get<std::vector<double>>(), torch::kFloat64);
        auto scale = torch::tensor(meta["standardization"]["scale"].get<std::vector<double>>(), torch::kFloat64);
        model.to(torch::kFloat64);
        torch::Tensor mu = model.get_method("encode")({(f - mean) / scale}).toTuple()->elements()[0].toTensor();
        torch::Tensor z = bundle.get_method("latent_mean")({frames}).toTensor();
        EXPECT_LT(maxAbs(z - mu), 1e-6 * (1 + maxAbs(mu))) << kind;
    }
}
