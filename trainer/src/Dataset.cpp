#include "Dataset.h"

#include "Npy.h"
#include "Systems.h"

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
    } else {
        throw std::invalid_argument("unknown feature kind '" + kind + "' (known: xy, polar, positions)");
    }
    return spec;
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

} // namespace VAEPlugin
