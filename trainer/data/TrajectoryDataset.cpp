#include "TrajectoryDataset.h"

#include "FeatureMaps.h"
#include "MolecularFeatures.h"
#include "Npy.h"
#include "Trajectory.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace VAEPlugin {

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

/** Features of frames [F, n, 3] through the bundle's own featurize of a FeatureSpec. */
torch::Tensor featurizeFrames(const FeatureSpec& spec, const torch::Tensor& frames) {
    torch::jit::Module module = makeFeatureModule(spec);
    return featurizeInBatches(module, frames);
}

} // namespace

torch::Tensor readPositionFrames(const std::string& path) {
    const bool npy = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
    return npy ? readNpyPositions(path) : readDcd(path);
}

torch::Tensor featurizeInBatches(torch::jit::Module& module, const torch::Tensor& frames) {
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> parts;
    for (int64_t start = 0; start < frames.size(0); start += 4096) {
        auto batch = frames.slice(0, start, std::min(frames.size(0), start + 4096)).contiguous();
        parts.push_back(module.get_method(BundleSchema::Method::kFeaturize)({batch}).toTuple()->elements()[0].toTensor());
    }
    return torch::cat(parts, 0);
}

std::string trajectoryFeatureKinds() {
    return std::string(featureKindName(FeatureKind::Cartesian)) + ", " + featureKindName(FeatureKind::Bat) + " or " +
           featureKindName(FeatureKind::Positions);
}

Dataset trajectoryDataset(const TrajectoryOptions& o) {
    const std::string kind = featureKindName(o.features);
    if (o.features != FeatureKind::Cartesian && o.features != FeatureKind::Bat && o.features != FeatureKind::Positions)
        throw std::invalid_argument("--features with --trajectory must be " + trajectoryFeatureKinds() + ", not '" + kind + "'");
    PdbTopology top = readPdb(o.topology);
    torch::Tensor frames = readPositionFrames(o.path);
    if (frames.size(1) != top.numAtoms())
        throw std::invalid_argument("trajectory " + o.path + " has " + std::to_string(frames.size(1)) + " atoms but topology " +
                                    o.topology + " has " + std::to_string(top.numAtoms()));
    if (frames.size(0) < 2)
        throw std::runtime_error("trajectory " + o.path + ": need at least 2 frames, found " + std::to_string(frames.size(0)));
    std::vector<int> atoms = selectAtoms(o.atomSelection, o.atoms, top.elements);
    if (atoms.empty()) throw std::invalid_argument("--atoms selects no atoms");
    torch::Tensor selected = frames.index_select(1, torch::tensor(std::vector<int64_t>(atoms.begin(), atoms.end()), torch::kLong));
    Dataset ds;
    ds.source = o.path;
    ds.temperature = o.temperature;
    int n = static_cast<int>(atoms.size());
    if (o.features == FeatureKind::Positions) {
        ds.features = FeatureSpec::make(FeatureKind::Positions, 3 * n, {}, atoms);
        ds.data = selected.reshape({selected.size(0), 3 * n}).clone();
    } else if (o.features == FeatureKind::Cartesian) {
        auto toVector = [](const torch::Tensor& t) {
            torch::Tensor c = t.contiguous().to(torch::kFloat64);
            return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
        };
        // Reference: the mean of the frames aligned to the first; then every frame aligned to it.
        FeatureSpec first = FeatureSpec::cartesian(atoms, toVector(selected[0]));
        ds.features = FeatureSpec::cartesian(atoms, toVector(featurizeFrames(first, selected).mean(0)));
        ds.data = featurizeFrames(ds.features, selected);
    } else {
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
        if (o.rotors == "none") tree.rotorMultiplicity.clear();  // all torsions 1-fold
        // Constrained lengths: mean over the first frames (constant to the constraint tolerance).
        int64_t count = std::min<int64_t>(10, selected.size(0));
        for (size_t r = 0; r < tree.rows.size(); r++)
            if (tree.constrained[r]) {
                auto d = selected.slice(0, 0, count).select(1, tree.rows[r][0]) - selected.slice(0, 0, count).select(1, tree.rows[r][1]);
                tree.bondLength[r] = d.norm(2, 1).mean().item<double>();
            }
        ds.features = FeatureSpec::makeBat(atoms, tree, o.constraints);
        ds.data = featurizeFrames(ds.features, selected);
    }
    if (!torch::isfinite(ds.data).all().item<bool>())
        throw std::runtime_error("trajectory " + o.path + ": the " + kind + " features of some frames are not finite");
    return ds;
}

} // namespace VAEPlugin
