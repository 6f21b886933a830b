#include "CommonVAEFeatureMapData.h"
#include <array>
#include <utility>

using namespace VAEPlugin;

CommonVAEFeatureMapData::CommonVAEFeatureMapData(const VAEEncoderSpec& spec) {
    if (spec.featureKind == FeatureKind::Bat)
        addBat(spec);
    else if (spec.featureKind == FeatureKind::Cartesian)
        addCartesian(spec);
    // Device arrays cannot be empty.
    if (indices.empty())
        indices.push_back(0);
    if (data.empty())
        data.push_back(0.0);
}

void CommonVAEFeatureMapData::addBat(const VAEEncoderSpec& spec) {
    // The feature order of VAEEncoderSpec (fromTree has checked the tree's sizes and indices).
    const int rows = spec.batI.size(), free = spec.batFreeRows.size();
    const int firstAngle = 2 + free, firstTorsion = 3 + free + rows, numFeatures = firstTorsion + rows;
    const std::vector<int>& root = spec.batRoot;
    std::vector<std::array<int, 4>> terms(numFeatures, {-1, -1, -1, -1});
    terms[0] = {root[1], root[0], -1, -1};
    terms[1] = {root[2], root[1], -1, -1};
    for (int m = 0; m < free; m++)
        terms[2 + m] = {spec.batI[spec.batFreeRows[m]], spec.batJ[spec.batFreeRows[m]], -1, -1};
    terms[firstAngle] = {root[0], root[1], root[2], -1};
    std::vector<int> torsionReference(rows);
    for (int t = 0; t < rows; t++) {
        terms[firstAngle + 1 + t] = {spec.batI[t], spec.batJ[t], spec.batK[t], -1};
        terms[firstTorsion + t] = {spec.batI[t], spec.batJ[t], spec.batK[t], spec.batL[t]};
        const int reference = spec.batTorsionReference[t];
        torsionReference[t] = reference == t ? -1 : firstTorsion + reference;
    }
    // Per atom, where it enters a feature: (feature, 4 * term + slot), features in order.
    std::vector<std::vector<std::pair<int, int>>> entries(spec.numAtoms);
    auto enter = [&](int feature, int term) {
        for (int slot = 0; slot < 4; slot++)
            if (terms[term][slot] >= 0)
                entries[terms[term][slot]].push_back({feature, 4 * term + slot});
    };
    for (int f = 0; f < numFeatures; f++) {
        enter(f, f);
        if (f >= firstTorsion && torsionReference[f - firstTorsion] >= 0)
            enter(f, torsionReference[f - firstTorsion]);
    }
    defines["BAT_FIRST_ANGLE"] = std::to_string(firstAngle);
    defines["BAT_FIRST_TORSION"] = std::to_string(firstTorsion);
    defines["BAT_TERMS"] = std::to_string(indices.size());
    for (const std::array<int, 4>& term : terms)
        indices.insert(indices.end(), term.begin(), term.end());
    defines["BAT_TORSION_REFERENCE"] = std::to_string(indices.size());
    indices.insert(indices.end(), torsionReference.begin(), torsionReference.end());
    defines["BAT_ATOM_ENTRIES"] = std::to_string(indices.size());
    int start = 0;
    for (const auto& atomEntries : entries) {
        indices.push_back(start);
        start += atomEntries.size();
    }
    indices.push_back(start);
    for (const auto& atomEntries : entries)
        for (const std::pair<int, int>& entry : atomEntries) {
            indices.push_back(entry.first);
            indices.push_back(entry.second);
        }
}

void CommonVAEFeatureMapData::addCartesian(const VAEEncoderSpec& spec) {
    // As NativeFeatureMap: the reference centred on its mean over atoms.
    const int n = spec.numAtoms;
    double center[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            center[d] += spec.reference[3 * i + d];
    for (int d = 0; d < 3; d++)
        center[d] /= n;
    defines["CARTESIAN_REFERENCE"] = std::to_string(data.size());
    for (int i = 0; i < n; i++)
        for (int d = 0; d < 3; d++)
            data.push_back(spec.reference[3 * i + d] - center[d]);
    defines["CARTESIAN_REFERENCE_CENTER"] = std::to_string(data.size());
    data.insert(data.end(), center, center + 3);
    // Scratch: rotation (9), centre of the positions (3), S (9), N^T (9) and R^T mean dE/dy (3).
    for (auto& region : std::vector<std::pair<const char*, int>>{{"CARTESIAN_ROTATION", 9}, {"CARTESIAN_CENTER", 3}, {"CARTESIAN_FIT", 9}, {"CARTESIAN_ADJOINT", 12}}) {
        defines[region.first] = std::to_string(data.size());
        data.insert(data.end(), region.second, 0.0);
    }
}
