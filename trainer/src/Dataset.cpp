#include "Dataset.h"

#include "Bundle.h"
#include "Npy.h"
#include "Systems.h"
#include "Trajectory.h"

#include <cmath>
#include <set>
#include <stdexcept>

namespace VAEPlugin {

FeatureSpec FeatureSpec::make(const std::string& kind, int columns, const std::vector<int>& periodicColumns,
                              const std::vector<int>& atoms) {
    FeatureSpec spec;
    spec.kind = kind;
    std::set<int> periodicSet;
    for (int c : periodicColumns) {
        if (c < 0 || c >= columns)
            throw std::invalid_argument("periodic column " + std::to_string(c) + " is out of range: the data have " +
                                        std::to_string(columns) + " columns (0-based indices)");
        periodicSet.insert(c);
    }
    for (int a : atoms)
        if (a < 0) throw std::invalid_argument("atom index " + std::to_string(a) + " is negative");
    if (std::set<int>(atoms.begin(), atoms.end()).size() != atoms.size())
        throw std::invalid_argument("atom indices repeat");
    if (kind == "xy" || kind == "polar") {
        if (columns != 2)
            throw std::invalid_argument("features '" + kind + "' need 2 columns, the data have " + std::to_string(columns));
        spec.atoms = atoms.empty() ? std::vector<int>{0} : atoms;
        if (spec.atoms.size() != 1) throw std::invalid_argument("features '" + kind + "' describe exactly one atom");
        if (kind == "xy") {
            spec.names = {"x", "y"};
            spec.periodic = {periodicSet.count(0) > 0, periodicSet.count(1) > 0};
        } else {
            if (periodicSet.count(0)) throw std::invalid_argument("features 'polar': column 0 (r) cannot be periodic");
            spec.names = {"r", "theta"};
            spec.periodic = {false, true};
        }
    } else if (kind == "positions") {
        if (columns % 3 != 0)
            throw std::invalid_argument("features 'positions' need 3 columns per atom, the data have " +
                                        std::to_string(columns));
        int n = columns / 3;
        if (atoms.empty()) {
            spec.atoms.clear();
            for (int i = 0; i < n; i++) spec.atoms.push_back(i);
        } else {
            if (static_cast<int>(atoms.size()) != n)
                throw std::invalid_argument(std::to_string(atoms.size()) + " atoms given but the data hold " +
                                            std::to_string(n) + " atoms (3 columns each)");
            spec.atoms = atoms;
        }
        for (int i = 0; i < n; i++)
            for (const char* axis : {"x", "y", "z"}) {
                spec.names.push_back(std::string(axis) + std::to_string(i));
                spec.periodic.push_back(periodicSet.count(static_cast<int>(spec.periodic.size())) > 0);
            }
    } else if (kind == "cartesian" || kind == "bat") {
        throw std::invalid_argument("features '" + kind + "' are computed from a trajectory: use --trajectory and --topology");
    } else {
        throw std::invalid_argument("unknown feature kind '" + kind + "' (known: xy, polar, positions, cartesian, bat)");
    }
    return spec;
}

FeatureSpec FeatureSpec::cartesian(const std::vector<int>& atoms, const std::vector<double>& reference) {
    FeatureSpec spec = make("positions", 3 * static_cast<int>(atoms.size()), {}, atoms);
    spec.kind = "cartesian";
    spec.names.clear();
    for (int a : atoms)
        for (const char* axis : {"x", "y", "z"}) spec.names.push_back(std::string(axis) + std::to_string(a));
    spec.reference = reference;
    return spec;
}

FeatureSpec FeatureSpec::makeBat(const std::vector<int>& atoms, const BatTree& tree, const std::string& constraints) {
    FeatureSpec spec;
    spec.kind = "bat";
    spec.atoms = atoms;
    spec.bat = tree;
    spec.constraints = constraints;
    auto name = [&](const char* what, std::initializer_list<int> local) {
        std::string s = what;
        const char* sep = ":";
        for (int k : local) {
            s += sep + std::to_string(atoms[k]);
            sep = "-";
        }
        return s;
    };
    const auto& r = tree.root;
    spec.names = {name("bond", {r[0], r[1]}), name("bond", {r[1], r[2]})};
    for (int row : tree.freeRows()) spec.names.push_back(name("bond", {tree.rows[row][0], tree.rows[row][1]}));
    spec.names.push_back(name("angle", {r[0], r[1], r[2]}));
    for (const auto& row : tree.rows) spec.names.push_back(name("angle", {row[0], row[1], row[2]}));
    for (size_t t = 0; t < tree.rows.size(); t++) {
        const auto& row = tree.rows[t];
        int first = tree.torsionReference[t];
        std::string n = name("torsion", {row[0], row[1], row[2], row[3]});
        if (first != static_cast<int>(t)) n += "-minus-" + std::to_string(atoms[tree.rows[first][0]]);
        spec.names.push_back(n);
    }
    spec.periodic.assign(spec.names.size(), false);
    for (size_t t = 0; t < tree.rows.size(); t++) spec.periodic[spec.names.size() - 1 - t] = true;
    return spec;
}

nlohmann::json FeatureSpec::toJson() const {
    nlohmann::json j = {{"kind", kind}, {"periodic", periodic}, {"names", names}};
    if (kind == "cartesian") {
        nlohmann::json ref = nlohmann::json::array();
        for (size_t a = 0; a < reference.size() / 3; a++) ref.push_back({reference[3 * a], reference[3 * a + 1], reference[3 * a + 2]});
        j["reference"] = "mean of the training frames after a Kabsch fit of each onto the first (nm)";
        j["reference_positions"] = ref;
        j["alignment"] = "kabsch, equal weights, all selected atoms";
    } else if (kind == "bat") {
        auto system = [&](int local) { return atoms[local]; };
        j["constraints"] = constraints;
        nlohmann::json constrained = nlohmann::json::array(), tree = nlohmann::json::array();
        for (size_t r = 0; r < bat.rows.size(); r++) {
            const auto& row = bat.rows[r];
            tree.push_back({system(row[0]), system(row[1]), system(row[2]), system(row[3])});
            if (bat.constrained[r]) constrained.push_back({system(row[0]), system(row[1]), bat.bondLength[r]});
        }
        j["constrained_bonds"] = constrained;
        j["root"] = {system(bat.root[0]), system(bat.root[1]), system(bat.root[2])};
        j["tree"] = tree;
        j["torsion_reference"] = bat.torsionReference;
        j["log_jacobian"] = "sum over free bonds 2 ln r + sum over angles ln sin(theta)";
    }
    return j;
}

Standardization Standardization::fit(const torch::Tensor& data, const std::vector<bool>& periodic) {
    Standardization s;
    auto d = data.to(torch::kCPU, torch::kFloat64);
    auto mean = d.mean(0), std = d.std(0, /*unbiased=*/false);
    for (int64_t i = 0; i < d.size(1); i++) {
        double m = mean[i].item<double>(), sd = std[i].item<double>();
        if (periodic[i]) {
            s.mean.push_back(0.0);
            s.scale.push_back(1.0);
        } else {
            s.mean.push_back(m);
            s.scale.push_back(sd > 1e-12 ? sd : 1.0);
        }
    }
    return s;
}

torch::Tensor Standardization::meanTensor() const {
    return torch::tensor(mean, torch::kFloat64);
}

torch::Tensor Standardization::scaleTensor() const {
    return torch::tensor(scale, torch::kFloat64);
}

torch::Tensor Standardization::apply(const torch::Tensor& x) const {
    return (x - meanTensor().to(x.options())) / scaleTensor().to(x.options());
}

double Standardization::logScaleSum() const {
    double s = 0.0;
    for (double v : scale) s += std::log(v);
    return s;
}

Dataset systemDataset(const std::string& system, int64_t samples, uint64_t seed) {
    if (samples < 2) throw std::invalid_argument("--samples must be at least 2");
    auto sys = makeSystem(system);
    Dataset ds;
    ds.data = sys->sample(samples, seed);
    std::vector<int> periodicColumns;
    if (sys->featureKind() == "polar") periodicColumns = {1};
    ds.features = FeatureSpec::make(sys->featureKind(), 2, periodicColumns, {0});
    ds.source = "system:" + system;
    ds.system = system;
    return ds;
}

Dataset npyDataset(const std::string& path, const std::string& features, const std::vector<int>& periodicColumns,
                   const std::vector<int>& atoms, std::optional<double> temperature) {
    Dataset ds;
    ds.data = readNpy(path);
    if (ds.data.size(0) < 2) throw std::runtime_error(path + ": need at least 2 samples, found " + std::to_string(ds.data.size(0)));
    std::vector<int> periodic = periodicColumns;
    if (features == "polar" && periodic.empty()) periodic = {1};
    try {
        ds.features = FeatureSpec::make(features, static_cast<int>(ds.data.size(1)), periodic, atoms);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(path + ": " + e.what());
    }
    ds.source = path;
    ds.temperature = temperature;
    // Periodic columns are angles: wrap them into [-pi, pi).
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < ds.features.numFeatures(); i++)
        if (ds.features.periodic[i]) {
            auto col = ds.data.select(1, i);
            col.copy_(torch::remainder(col + pi, 2 * pi) - pi);
        }
    if (features == "polar") {
        auto r = ds.data.select(1, 0);
        if ((r < 0).any().item<bool>())
            throw std::invalid_argument(path + ": features 'polar': column 0 (r) has negative values");
    }
    return ds;
}

std::vector<int> selectAtoms(const std::string& selection, const std::vector<int>& explicitAtoms,
                             const std::vector<std::string>& elements) {
    int n = static_cast<int>(elements.size());
    std::vector<int> atoms;
    if (!explicitAtoms.empty()) {
        for (int a : explicitAtoms)
            if (a < 0 || a >= n)
                throw std::invalid_argument("--atoms: index " + std::to_string(a) + " is out of range: the topology has " +
                                            std::to_string(n) + " atoms (0-based)");
        if (std::set<int>(explicitAtoms.begin(), explicitAtoms.end()).size() != explicitAtoms.size())
            throw std::invalid_argument("--atoms: indices repeat");
        return explicitAtoms;
    }
    if (selection != "all" && selection != "heavy")
        throw std::invalid_argument("--atoms must be all, heavy or comma-separated atom indices, not '" + selection + "'");
    for (int i = 0; i < n; i++)
        if (selection == "all" || elements[i] != "H") atoms.push_back(i);
    return atoms;
}

namespace {

/** Features of frames [F, n, 3] through the bundle's own featurize, in batches. */
torch::Tensor featurizeFrames(const FeatureSpec& spec, const torch::Tensor& frames) {
    torch::jit::Module module = makeFeatureModule(spec);
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> parts;
    for (int64_t start = 0; start < frames.size(0); start += 4096) {
        auto batch = frames.slice(0, start, std::min(frames.size(0), start + 4096));
        parts.push_back(module.get_method("featurize")({batch}).toTuple()->elements()[0].toTensor());
    }
    return torch::cat(parts, 0);
}

} // namespace

Dataset trajectoryDataset(const TrajectoryOptions& o) {
    PdbTopology top = readPdb(o.topology);
    torch::Tensor frames = readDcd(o.trajectory);
    if (frames.size(1) != top.numAtoms())
        throw std::invalid_argument("trajectory " + o.trajectory + " has " + std::to_string(frames.size(1)) + " atoms but topology " +
                                    o.topology + " has " + std::to_string(top.numAtoms()));
    if (frames.size(0) < 2)
        throw std::runtime_error("trajectory " + o.trajectory + ": need at least 2 frames, found " + std::to_string(frames.size(0)));
    std::vector<int> atoms = selectAtoms(o.atomSelection, o.atoms, top.elements);
    if (atoms.empty()) throw std::invalid_argument("--atoms selects no atoms");
    torch::Tensor selected = frames.index_select(1, torch::tensor(std::vector<int64_t>(atoms.begin(), atoms.end()), torch::kLong));
    Dataset ds;
    ds.source = o.trajectory;
    ds.temperature = o.temperature;
    int n = static_cast<int>(atoms.size());
    if (o.features == "positions") {
        ds.features = FeatureSpec::make("positions", 3 * n, {}, atoms);
        ds.data = selected.reshape({selected.size(0), 3 * n}).clone();
    } else if (o.features == "cartesian") {
        auto toVector = [](const torch::Tensor& t) {
            torch::Tensor c = t.contiguous().to(torch::kFloat64);
            return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
        };
        // Reference: the mean of the frames aligned to the first; then every frame aligned to it.
        FeatureSpec first = FeatureSpec::cartesian(atoms, toVector(selected[0]));
        ds.features = FeatureSpec::cartesian(atoms, toVector(featurizeFrames(first, selected).mean(0)));
        ds.data = featurizeFrames(ds.features, selected);
    } else if (o.features == "bat") {
        std::vector<double> firstFrame(3 * top.numAtoms());
        auto f0 = frames[0].contiguous();
        std::copy(f0.data_ptr<double>(), f0.data_ptr<double>() + f0.numel(), firstFrame.begin());
        std::vector<std::pair<int, int>> bonds;
        try {
            bonds = inferBonds(top.elements, firstFrame, top.conect);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("topology " + o.topology + ": " + e.what());
        }
        BatTree tree = buildBatTree(atoms, top.elements, bonds, o.constraints);
        // Constrained lengths: mean over the first frames (constant to the constraint tolerance).
        int64_t count = std::min<int64_t>(10, selected.size(0));
        for (size_t r = 0; r < tree.rows.size(); r++)
            if (tree.constrained[r]) {
                auto d = selected.slice(0, 0, count).select(1, tree.rows[r][0]) - selected.slice(0, 0, count).select(1, tree.rows[r][1]);
                tree.bondLength[r] = d.norm(2, 1).mean().item<double>();
            }
        ds.features = FeatureSpec::makeBat(atoms, tree, o.constraints);
        ds.data = featurizeFrames(ds.features, selected);
    } else {
        throw std::invalid_argument("--features with --trajectory must be cartesian, bat or positions, not '" + o.features + "'");
    }
    if (!torch::isfinite(ds.data).all().item<bool>())
        throw std::runtime_error("trajectory " + o.trajectory + ": the " + o.features + " features of some frames are not finite");
    return ds;
}

} // namespace VAEPlugin
