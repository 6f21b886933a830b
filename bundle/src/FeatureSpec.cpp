#include "FeatureSpec.h"

#include <initializer_list>
#include <set>
#include <stdexcept>

namespace VAEPlugin {

FeatureSpec FeatureSpec::make(FeatureKind kind, int columns, const std::vector<int>& periodicColumns,
                              const std::vector<int>& atoms) {
    const std::string name = featureKindName(kind);
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
    switch (kind) {
    case FeatureKind::XY:
    case FeatureKind::Polar:
        if (columns != 2)
            throw std::invalid_argument("features '" + name + "' need 2 columns, the data have " + std::to_string(columns));
        spec.atoms = atoms.empty() ? std::vector<int>{0} : atoms;
        if (spec.atoms.size() != 1) throw std::invalid_argument("features '" + name + "' describe exactly one atom");
        if (kind == FeatureKind::XY) {
            spec.names = {"x", "y"};
            spec.periodic = {periodicSet.count(0) > 0, periodicSet.count(1) > 0};
        } else {
            if (periodicSet.count(0)) throw std::invalid_argument("features '" + name + "': column 0 (r) cannot be periodic");
            spec.names = {"r", "theta"};
            spec.periodic = {false, true};
        }
        break;
    case FeatureKind::Positions: {
        if (columns % 3 != 0)
            throw std::invalid_argument("features '" + name + "' need 3 columns per atom, the data have " +
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
        break;
    }
    case FeatureKind::Cartesian:
    case FeatureKind::Bat:
        throw std::invalid_argument("features '" + name + "' are not data columns: they are computed from positions "
                                    "(FeatureSpec::cartesian, FeatureSpec::makeBat)");
    }
    return spec;
}

FeatureSpec FeatureSpec::cartesian(const std::vector<int>& atoms, const std::vector<double>& reference) {
    FeatureSpec spec = make(FeatureKind::Positions, 3 * static_cast<int>(atoms.size()), {}, atoms);
    spec.kind = FeatureKind::Cartesian;
    spec.names.clear();
    for (int a : atoms)
        for (const char* axis : {"x", "y", "z"}) spec.names.push_back(std::string(axis) + std::to_string(a));
    spec.reference = reference;
    return spec;
}

FeatureSpec FeatureSpec::makeBat(const std::vector<int>& atoms, const BatTree& tree, const std::string& constraints) {
    FeatureSpec spec;
    spec.kind = FeatureKind::Bat;
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
    if (!tree.rotorMultiplicity.empty()) {
        if (tree.rotorMultiplicity.size() != tree.rows.size())
            throw std::invalid_argument("bat tree: " + std::to_string(tree.rotorMultiplicity.size()) + " rotor multiplicities for " +
                                        std::to_string(tree.rows.size()) + " rows");
        // The torsions are the last rows.size() features, in row order.
        spec.multiplicity.assign(spec.names.size(), 1);
        size_t firstTorsion = spec.names.size() - tree.rows.size();
        for (size_t t = 0; t < tree.rows.size(); t++) {
            int m = tree.rotorMultiplicity[t];
            if (m < 1)
                throw std::invalid_argument("bat tree: rotor multiplicity " + std::to_string(m) + " of row " + std::to_string(t) +
                                            " is not positive");
            spec.multiplicity[firstTorsion + t] = m;
        }
    }
    return spec;
}

} // namespace VAEPlugin
