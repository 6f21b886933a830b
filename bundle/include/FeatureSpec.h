#ifndef OPENMM_VAE_BUNDLE_FEATURE_SPEC_H_
#define OPENMM_VAE_BUNDLE_FEATURE_SPEC_H_

#include "BatTree.h"
#include "BundleSchema.h"

#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * How the atoms' positions become the features the VAE sees (design.md "Feature kinds"):
 *  - xy: x and y of one particle (atoms has one entry); ln J = 0.
 *  - polar: r and theta of one particle in the xy plane; theta periodic; ln J = ln r.
 *  - positions: raw coordinates of the selected atoms, [x0, y0, z0, x1, ...]; ln J = 0.
 *  - cartesian: the selected atoms' coordinates after the rigid translation and rotation that
 *    best fit them (Kabsch, equal weights) onto `reference`; ln J = 0. Rebuilding positions from
 *    features gives the aligned coordinates in the reference's frame (the current orientation is
 *    not kept, so exact VAE-MC moves refuse these bundles; science.md section 5).
 *  - bat: bond-angle-torsion coordinates over `bat` (see BatTree); torsions periodic.
 * The feature maps themselves are FeatureMaps.h; the metadata written for a spec is BundleWriter.h.
 */
struct FeatureSpec {
    FeatureKind kind = FeatureKind::XY;
    std::vector<int> atoms{0};            ///< System atom indices, in the order positions are given
    std::vector<bool> periodic;           ///< size numFeatures()
    std::vector<std::string> names;       ///< size numFeatures()
    std::vector<double> reference;        ///< cartesian: reference structure [3 n] nm
    BatTree bat;                          ///< bat: the tree, constrained bonds and their lengths
    std::string constraints;              ///< bat: "hbonds" | "none"
    /** Per feature: rotor multiplicity (bat torsions of rotors, from BatTree::rotorMultiplicity), 1 elsewhere; empty = all 1. */
    std::vector<int> multiplicity;
    int numFeatures() const { return static_cast<int>(periodic.size()); }
    /** A cartesian spec for the System atoms `atoms` and a reference structure ([3 n] nm). */
    static FeatureSpec cartesian(const std::vector<int>& atoms, const std::vector<double>& reference);
    /** A bat spec for the System atoms `atoms` over `tree`. */
    static FeatureSpec makeBat(const std::vector<int>& atoms, const BatTree& tree, const std::string& constraints);
    /**
     * Builds and validates an xy, polar or positions spec for `columns` data columns (cartesian and
     * bat specs come from cartesian() and makeBat()); throws std::invalid_argument naming the value.
     */
    static FeatureSpec make(FeatureKind kind, int columns, const std::vector<int>& periodicColumns,
                            const std::vector<int>& atoms);
};

} // namespace VAEPlugin

#endif
