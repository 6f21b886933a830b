#include "internal/BundleChecks.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include <map>
#include <set>

using namespace VAEPlugin;
using namespace OpenMM;

void VAEPlugin::checkBundleFitsSystem(const VAEModelBundle& bundle, const System& system, const std::string& user,
                                      BundleUse use) {
    checkBundleFitsSystem(bundle, system, user, bundle.getMetadataAtoms(), use);
}

void VAEPlugin::checkBundleFitsSystem(const VAEModelBundle& bundle, const System& system, const std::string& user,
                                      const std::vector<int>& atoms, BundleUse use) {
    if (!bundle.hasMetadata())
        return;
    const std::string& source = bundle.getSource();
    std::vector<int> metadataAtoms = bundle.getMetadataAtoms();
    if (!metadataAtoms.empty() && atoms.size() != metadataAtoms.size())
        throw OpenMMException(user + ": the model from " + source + " describes " + std::to_string(metadataAtoms.size()) +
                              " atoms but " + std::to_string(atoms.size()) + " are given");
    int numParticles = system.getNumParticles();
    std::map<int, int> bundleIndex;  // System index -> position in the bundle
    for (int k = 0; k < (int) atoms.size(); k++) {
        if (atoms[k] < 0 || atoms[k] >= numParticles)
            throw OpenMMException(user + ": the model from " + source + " uses atom " + std::to_string(atoms[k]) +
                                  " but the System has " + std::to_string(numParticles) + " particles");
        bundleIndex[atoms[k]] = k;
    }
    if (use == BundleUse::CollectiveVariable || bundle.getFeatureKind() != FeatureKind::Bat)
        return;
    // Expected constraints, keyed by the unordered pair of System indices of the atoms used here.
    std::map<std::pair<int, int>, double> expected;
    std::map<int, int> metadataPosition;
    for (int k = 0; k < (int) metadataAtoms.size(); k++)
        metadataPosition[metadataAtoms[k]] = k;
    std::vector<VAEModelBundle::ConstrainedBond> bonds;
    try {
        bonds = bundle.getConstrainedBonds();
    }
    catch (const BundleError& e) {
        throw OpenMMException(user + ": " + e.what());
    }
    for (const auto& b : bonds) {
        int ends[2];
        for (int e = 0; e < 2; e++) {
            int atom = e == 0 ? b.atom1 : b.atom2;
            auto position = metadataPosition.find(atom);
            if (position == metadataPosition.end())
                throw OpenMMException(user + ": the model from " + source + ": constrained_bonds entry " + b.entry +
                                      " names atom " + std::to_string(atom) + ", which is not one of the bundle's atoms");
            ends[e] = atoms[position->second];
        }
        expected[{std::min(ends[0], ends[1]), std::max(ends[0], ends[1])}] = b.length;
    }
    std::set<std::pair<int, int>> found;
    for (int c = 0; c < system.getNumConstraints(); c++) {
        int i, j;
        double length;
        system.getConstraintParameters(c, i, j, length);
        bool hasI = bundleIndex.count(i) > 0, hasJ = bundleIndex.count(j) > 0;
        if (!hasI && !hasJ)
            continue;
        if (hasI != hasJ)
            throw OpenMMException(user + ": the System constrains atom " + std::to_string(hasI ? i : j) + " of the BAT model from " +
                                  source + " to atom " + std::to_string(hasI ? j : i) + ", which is not in the model");
        std::pair<int, int> key(std::min(i, j), std::max(i, j));
        auto e = expected.find(key);
        if (e == expected.end())
            throw OpenMMException(user + ": the System constrains the bond " + std::to_string(key.first) + "-" + std::to_string(key.second) +
                                  " (" + std::to_string(length) + " nm), but the BAT model from " + source +
                                  " treats it as free (trained with other constraints; see --constraints)");
        found.insert(key);
    }
    for (const auto& e : expected)
        if (!found.count(e.first))
            throw OpenMMException(user + ": the BAT model from " + source + " expects the bond " + std::to_string(e.first.first) + "-" +
                                  std::to_string(e.first.second) + " constrained to " + std::to_string(e.second) +
                                  " nm, but the System has no such constraint");
}
