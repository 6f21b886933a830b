#include "MolecularFeatures.h"

#include "BundleSchema.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>
#include <stdexcept>

namespace VAEPlugin {

namespace {
const std::string kBatFeatures = std::string("features '") + featureKindName(FeatureKind::Bat) + "'";
} // namespace

double covalentRadius(const std::string& element) {
    static const std::map<std::string, double> radii = {
        {"H", 0.031},  {"B", 0.084},  {"C", 0.076},  {"N", 0.071},  {"O", 0.066},  {"F", 0.057}, {"Na", 0.166},
        {"Mg", 0.141}, {"Si", 0.111}, {"P", 0.107},  {"S", 0.105},  {"Cl", 0.102}, {"K", 0.203}, {"Ca", 0.176},
        {"Fe", 0.132}, {"Zn", 0.122}, {"Se", 0.120}, {"Br", 0.120}, {"I", 0.139}};
    auto r = radii.find(element);
    if (r == radii.end()) throw std::invalid_argument("no covalent radius for element '" + element + "'");
    return r->second;
}

std::vector<std::pair<int, int>> inferBonds(const std::vector<std::string>& elements, const std::vector<double>& positions,
                                            const std::vector<std::pair<int, int>>& extra) {
    int n = static_cast<int>(elements.size());
    std::vector<double> radius(n);
    for (int i = 0; i < n; i++) {
        try {
            radius[i] = covalentRadius(elements[i]);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("atom " + std::to_string(i) + ": " + e.what() + " (bonds are inferred from distances)");
        }
    }
    std::set<std::pair<int, int>> bonds;
    for (auto b : extra) bonds.insert({std::min(b.first, b.second), std::max(b.first, b.second)});
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double d2 = 0;
            for (int c = 0; c < 3; c++) d2 += std::pow(positions[3 * i + c] - positions[3 * j + c], 2);
            double d = std::sqrt(d2), cutoff = radius[i] + radius[j] + 0.045;
            if (d > 0.04 && d < cutoff) bonds.insert({i, j});
        }
    return std::vector<std::pair<int, int>>(bonds.begin(), bonds.end());
}

BatTree buildBatTree(const std::vector<int>& atoms, const std::vector<std::string>& elements,
                     const std::vector<std::pair<int, int>>& bonds, const std::string& constraints) {
    if (constraints != "hbonds" && constraints != "none")
        throw std::invalid_argument("--constraints must be hbonds or none, not '" + constraints + "'");
    int n = static_cast<int>(atoms.size());
    if (n < 3) throw std::invalid_argument(kBatFeatures + " need at least 3 atoms, " + std::to_string(n) + " selected");
    std::map<int, int> local;
    for (int k = 0; k < n; k++) local[atoms[k]] = k;
    auto isHydrogen = [&](int k) { return elements[atoms[k]] == "H"; };
    std::vector<std::vector<int>> neighbours(n);
    for (auto b : bonds) {
        auto i = local.find(b.first), j = local.find(b.second);
        if (i == local.end() || j == local.end()) continue;
        neighbours[i->second].push_back(j->second);
        neighbours[j->second].push_back(i->second);
    }
    // Heavy neighbours first, then selection order: the first sibling (the torsion reference) is heavy.
    for (auto& list : neighbours)
        std::sort(list.begin(), list.end(), [&](int a, int b) {
            return std::make_pair(isHydrogen(a), a) < std::make_pair(isHydrogen(b), b);
        });
    auto heavyNeighbours = [&](int k) {
        std::vector<int> heavy;
        for (int m : neighbours[k])
            if (!isHydrogen(m)) heavy.push_back(m);
        return heavy;
    };
    int center = -1;
    for (int k = 0; k < n; k++)
        if (!isHydrogen(k) && heavyNeighbours(k).size() >= 2 && (center < 0 || heavyNeighbours(k).size() > heavyNeighbours(center).size()))
            center = k;
    if (center < 0)
        throw std::invalid_argument(kBatFeatures + ": the selected atoms have no three bonded heavy atoms for the root of the tree");
    BatTree tree;
    std::vector<int> hn = heavyNeighbours(center);
    tree.root = {hn[0], center, hn[1]};
    std::vector<int> parent(n, -1);
    std::vector<bool> placed(n, false);
    parent[tree.root[1]] = tree.root[0];
    parent[tree.root[2]] = tree.root[1];
    std::deque<int> queue;
    for (int r : tree.root) {
        placed[r] = true;
        queue.push_back(r);
    }
    std::map<int, int> firstChildRow;
    while (!queue.empty()) {
        int j = queue.front();
        queue.pop_front();
        for (int i : neighbours[j]) {
            if (placed[i]) continue;
            placed[i] = true;
            parent[i] = j;
            int k, l;
            if (j == tree.root[0]) {
                k = tree.root[1];
                l = tree.root[2];
            } else if (j == tree.root[1]) {
                k = tree.root[0];
                l = tree.root[2];
            } else {
                k = parent[j];
                l = parent[k] >= 0 ? parent[k] : tree.root[1];  // k == r0 has no parent
            }
            int row = static_cast<int>(tree.rows.size());
            tree.rows.push_back({i, j, k, l});
            auto first = firstChildRow.find(j);
            tree.torsionReference.push_back(first == firstChildRow.end() ? row : first->second);
            if (first == firstChildRow.end()) firstChildRow[j] = row;
            tree.constrained.push_back(constraints == "hbonds" && (isHydrogen(i) || isHydrogen(j)));
            tree.bondLength.push_back(0.0);
            queue.push_back(i);
        }
    }
    for (int k = 0; k < n; k++)
        if (!placed[k])
            throw std::invalid_argument(kBatFeatures + ": atom " + std::to_string(atoms[k]) +
                                        " is not bonded (through the selected atoms) to the others; select whole molecules");
    return tree;
}

} // namespace VAEPlugin
