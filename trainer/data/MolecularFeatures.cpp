#include "MolecularFeatures.h"

#include "BundleSchema.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

namespace VAEPlugin {

namespace {
const std::string kBatFeatures = std::string("features '") + featureKindName(FeatureKind::Bat) + "'";

/**
 * Canonical form of the side of the molecule that atom `a` leads to, away from `from`: its element,
 * then the sorted forms of its own substituents. Two substituents with equal forms are equivalent by
 * bonding (isomorphic trees). Returns false when that side has a ring or leads back past `from`
 * (rings are not compared: such a group is not taken for a rotor, which is always safe, m = 1).
 */
bool canonicalForm(int a, int from, const std::vector<std::vector<int>>& neighbours, const std::function<std::string(int)>& element,
                   std::vector<bool>& visited, std::string& form) {
    visited[a] = true;
    std::vector<std::string> parts;
    for (int b : neighbours[a]) {
        if (b == from) continue;
        if (visited[b]) return false;
        std::string part;
        if (!canonicalForm(b, a, neighbours, element, visited, part)) return false;
        parts.push_back(part);
    }
    std::sort(parts.begin(), parts.end());
    form = element(a) + "(";
    for (size_t p = 0; p < parts.size(); p++) form += (p ? "," : "") + parts[p];
    form += ")";
    return true;
}

/**
 * Per row of `tree`: the multiplicity of the rotor whose absolute torsion the row carries, else 1.
 * Atom j is a rotor about its bond to its axis partner (its parent; r1 for r0) when all its other
 * bonded atoms, m >= 2 of them, are its children in the tree and equivalent (same canonical form):
 * rotating the group by 2 pi / m about the bond permutes them. The first child's row carries the
 * rotor's torsion (the others are offsets from it), so it gets m.
 */
std::vector<int> rotorMultiplicities(const BatTree& tree, const std::vector<int>& parent, const std::vector<std::vector<int>>& neighbours,
                                     const std::function<std::string(int)>& element) {
    int n = static_cast<int>(neighbours.size());
    std::vector<int> multiplicity(tree.rows.size(), 1), firstChildRow(n, -1), rowOf(n, -1);
    for (size_t r = 0; r < tree.rows.size(); r++) {
        rowOf[tree.rows[r][0]] = static_cast<int>(r);
        if (firstChildRow[tree.rows[r][1]] < 0) firstChildRow[tree.rows[r][1]] = static_cast<int>(r);
    }
    for (int j = 0; j < n; j++) {
        int axis = j == tree.root[0] ? tree.root[1] : parent[j];
        if (firstChildRow[j] < 0 || axis < 0) continue;
        std::vector<int> substituents;
        for (int s : neighbours[j])
            if (s != axis) substituents.push_back(s);
        if (substituents.size() < 2) continue;
        bool rotor = true;
        for (int s : substituents)  // a substituent that is not a row under j (r2 under r1, a ring closure) is not rotated by its torsion
            rotor = rotor && rowOf[s] >= 0 && tree.rows[rowOf[s]][1] == j && element(s) == element(substituents[0]);
        std::string first;
        for (size_t k = 0; k < substituents.size() && rotor; k++) {
            std::vector<bool> visited(n, false);
            visited[j] = true;
            std::string form;
            rotor = canonicalForm(substituents[k], j, neighbours, element, visited, form) && (k == 0 || form == first);
            if (k == 0) first = form;
        }
        if (rotor) multiplicity[firstChildRow[j]] = static_cast<int>(substituents.size());
    }
    return multiplicity;
}
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
    tree.rotorMultiplicity = rotorMultiplicities(tree, parent, neighbours, [&](int k) { return elements[atoms[k]]; });
    return tree;
}

} // namespace VAEPlugin
