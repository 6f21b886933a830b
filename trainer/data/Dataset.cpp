#include "Dataset.h"

#include "Npy.h"
#include "Systems.h"

#include <stdexcept>

namespace VAEPlugin {

Dataset systemDataset(const std::string& system, int64_t samples, uint64_t seed) {
    if (samples < 2) throw std::invalid_argument("--samples must be at least 2");
    auto sys = makeSystem(system);
    Dataset ds;
    ds.data = sys->sample(samples, seed);
    std::vector<int> periodicColumns;
    if (sys->featureKind() == FeatureKind::Polar) periodicColumns = {1};
    ds.features = FeatureSpec::make(sys->featureKind(), 2, periodicColumns, {0});
    ds.source = "system:" + system;
    ds.system = system;
    return ds;
}

Dataset npyDataset(const std::string& path, FeatureKind features, const std::vector<int>& periodicColumns,
                   const std::vector<int>& atoms, std::optional<double> temperature) {
    if (features == FeatureKind::Cartesian || features == FeatureKind::Bat)
        throw std::invalid_argument(std::string("features '") + featureKindName(features) +
                                    "' are computed from a trajectory: use --trajectory and --topology");
    Dataset ds;
    ds.data = readNpy(path);
    if (ds.data.size(0) < 2) throw std::runtime_error(path + ": need at least 2 samples, found " + std::to_string(ds.data.size(0)));
    std::vector<int> periodic = periodicColumns;
    if (features == FeatureKind::Polar && periodic.empty()) periodic = {1};
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
    if (features == FeatureKind::Polar) {
        auto r = ds.data.select(1, 0);
        if ((r < 0).any().item<bool>())
            throw std::invalid_argument(path + ": features '" + featureKindName(features) + "': column 0 (r) has negative values");
    }
    return ds;
}

} // namespace VAEPlugin
