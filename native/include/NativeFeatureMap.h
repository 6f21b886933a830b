#ifndef OPENMM_VAE_NATIVE_FEATURE_MAP_H_
#define OPENMM_VAE_NATIVE_FEATURE_MAP_H_

#include "VAEEncoderSpec.h"
#include <Eigen/Dense>
#include <vector>

namespace VAEPlugin {

/**
 * The bundle's featurize method in native code (double precision), with its analytic backward
 * pass: xy, polar, positions, cartesian (Kabsch fit onto the reference, gradient through the
 * rotation) and bat (bonds, angles, torsions over the bundle's tree). Definitions match the
 * TorchScript feature maps of bundle/; tests compare them.
 */
class NativeFeatureMap {
public:
    explicit NativeFeatureMap(const VAEEncoderSpec& spec);
    /** Out of line: Eigen's heap buffers must be freed by code compiled with the allocating flags (one set of flags per library). */
    ~NativeFeatureMap();
    NativeFeatureMap(const NativeFeatureMap&) = delete;
    NativeFeatureMap& operator=(const NativeFeatureMap&) = delete;
    /** features of positions [3 n] (nm); keeps what backward needs. */
    void evaluate(const std::vector<double>& positions, std::vector<double>& features);
    /** dE/dpositions [3 n] from dE/dfeatures, at the positions of the last evaluate. */
    void backward(const std::vector<double>& dEdFeatures, std::vector<double>& dEdPositions);
    /**
     * The inverse map, as the bundle's positions_from_features: positions [3 n] (nm) whose features
     * are `features` [numFeatures], with what the features leave free taken from `reference` [3 n]:
     * bat: the position of r0, the direction r0->r1 and the plane r0-r1-r2 (external coordinates),
     * constrained bonds at their per-row lengths (the bundle's bat_bond_length unless overridden);
     * xy, polar: the coordinates the features do not set; positions: nothing. Throws
     * std::invalid_argument for cartesian (the orientation is lost, so the map is not invertible).
     * Does not touch the state kept for backward.
     */
    void positionsFromFeatures(const double* features, const std::vector<double>& reference, std::vector<double>& positions) const;
    /** ln J of positions -> features at `features` (featurize's second output): bat: sum over free bonds 2 ln r + sum over angles ln sin; polar: ln r; otherwise 0. */
    double logJacobian(const double* features) const;
    /**
     * bat: the lengths (nm) of the constrained bonds, one per row (entries of free rows are not used),
     * e.g. the System's constraint lengths; throws std::invalid_argument for another kind, a size
     * other than the number of rows or a constrained row's length that is not positive and finite.
     */
    void setConstrainedBondLengths(const std::vector<double>& perRow);
    /** bat: the per-row lengths positionsFromFeatures uses for constrained bonds. */
    const std::vector<double>& constrainedBondLengths() const { return bondLength; }
private:
    using Vec3 = Eigen::Vector3d;
    Vec3 atom(int i) const { return Vec3(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]); }
    void add(std::vector<double>& g, int i, const Vec3& v) const;
    void evaluateCartesian(std::vector<double>& features);
    void backwardCartesian(const std::vector<double>& dEdFeatures, std::vector<double>& dEdPositions);
    void evaluateBat(std::vector<double>& features);
    void backwardBat(const std::vector<double>& dEdFeatures, std::vector<double>& dEdPositions);
    FeatureKind kind;
    int numAtoms, numFeatures;
    std::vector<double> positions;
    // cartesian (unaligned fixed-size members: the layout must not depend on the instruction set its
    // users are compiled for)
    using Matrix3 = Eigen::Matrix<double, 3, 3, Eigen::DontAlign>;
    using Vector3 = Eigen::Matrix<double, 3, 1, Eigen::DontAlign>;
    Eigen::Matrix3Xd referenceCentered, centered;
    Vector3 referenceCenter, eigenvalues;
    Matrix3 rotation, eigenvectors;
    // bat
    std::vector<int> root, rowI, rowJ, rowK, rowL, torsionReference, freeRows, freeFeature;
    std::vector<double> torsionGradient;
    std::vector<double> bondLength;        // per row: constrained bond lengths (nm)
    std::vector<bool> rowConstrained;      // per row: bond i-j not among the features
};

} // namespace VAEPlugin

#endif
