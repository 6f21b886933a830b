#include "NativeFeatureMap.h"
#include <cmath>
#include <stdexcept>
#include <string>

using namespace VAEPlugin;

namespace {

const double kPi = 3.14159265358979323846;

/** As the bundle's bat_wrap: into [-pi, pi). */
double wrap(double a) {
    double r = std::fmod(a + kPi, 2 * kPi);
    if (r < 0)
        r += 2 * kPi;
    return r - kPi;
}

double angle(const Eigen::Vector3d& a, const Eigen::Vector3d& b, const Eigen::Vector3d& c) {
    Eigen::Vector3d u = a - b, w = c - b;
    return std::atan2(u.cross(w).norm(), u.dot(w));
}

double dihedral(const Eigen::Vector3d& a, const Eigen::Vector3d& b, const Eigen::Vector3d& c, const Eigen::Vector3d& d) {
    Eigen::Vector3d b1 = b - a, b2 = c - b, b3 = d - c;
    Eigen::Vector3d n1 = b1.cross(b2), n2 = b2.cross(b3);
    return std::atan2(b1.dot(n2) * b2.norm(), n1.dot(n2));
}

} // namespace

NativeFeatureMap::NativeFeatureMap(const VAEEncoderSpec& spec)
    : kind(spec.featureKind), numAtoms(spec.numAtoms), numFeatures(spec.numFeatures), root(spec.batRoot), rowI(spec.batI),
      rowJ(spec.batJ), rowK(spec.batK), rowL(spec.batL), torsionReference(spec.batTorsionReference), freeRows(spec.batFreeRows) {
    if (kind == FeatureKind::Cartesian) {
        Eigen::Map<const Eigen::Matrix3Xd> reference(spec.reference.data(), 3, numAtoms);
        referenceCenter = reference.rowwise().mean();
        referenceCentered = reference.colwise() - referenceCenter;
        centered.resize(3, numAtoms);
    }
    freeFeature.assign(rowI.size(), -1);
    for (int f = 0; f < (int) freeRows.size(); f++)
        freeFeature[freeRows[f]] = 2 + f;
    torsionGradient.resize(rowI.size());
    bondLength = spec.batBondLength;
    rowConstrained.resize(rowI.size());
    for (int t = 0; t < (int) rowI.size(); t++)
        rowConstrained[t] = freeFeature[t] < 0;
}

NativeFeatureMap::~NativeFeatureMap() = default;

void NativeFeatureMap::add(std::vector<double>& g, int i, const Vec3& v) const {
    for (int d = 0; d < 3; d++)
        g[3 * i + d] += v[d];
}

void NativeFeatureMap::evaluate(const std::vector<double>& pos, std::vector<double>& features) {
    positions = pos;
    features.resize(numFeatures);
    if (kind == FeatureKind::Positions)
        for (int i = 0; i < numFeatures; i++)
            features[i] = positions[i];
    else if (kind == FeatureKind::XY) {
        features[0] = positions[0];
        features[1] = positions[1];
    }
    else if (kind == FeatureKind::Polar) {
        features[0] = std::sqrt(positions[0] * positions[0] + positions[1] * positions[1]);
        features[1] = std::atan2(positions[1], positions[0]);
    }
    else if (kind == FeatureKind::Cartesian)
        evaluateCartesian(features);
    else
        evaluateBat(features);
}

void NativeFeatureMap::backward(const std::vector<double>& dEdFeatures, std::vector<double>& dEdPositions) {
    dEdPositions.assign(3 * numAtoms, 0.0);
    if (kind == FeatureKind::Positions)
        dEdPositions = dEdFeatures;
    else if (kind == FeatureKind::XY) {
        dEdPositions[0] = dEdFeatures[0];
        dEdPositions[1] = dEdFeatures[1];
    }
    else if (kind == FeatureKind::Polar) {
        double x = positions[0], y = positions[1], r2 = x * x + y * y, r = std::sqrt(r2);
        dEdPositions[0] = dEdFeatures[0] * x / r - dEdFeatures[1] * y / r2;
        dEdPositions[1] = dEdFeatures[0] * y / r + dEdFeatures[1] * x / r2;
    }
    else if (kind == FeatureKind::Cartesian)
        backwardCartesian(dEdFeatures, dEdPositions);
    else
        backwardBat(dEdFeatures, dEdPositions);
}

// Kabsch: M = sum_a p_a q_a^T (p centred positions, q centred reference) = U S V^T,
// R = V diag(1, 1, d) U^T with d = sign det(V U^T); features y_a = R p_a + reference centre.
void NativeFeatureMap::evaluateCartesian(std::vector<double>& features) {
    Eigen::Map<const Eigen::Matrix3Xd> x(positions.data(), 3, numAtoms);
    centered = x.colwise() - x.rowwise().mean();
    Eigen::Matrix3d m = centered * referenceCentered.transpose();
    Eigen::JacobiSVD<Eigen::Matrix3d> svd(m, Eigen::ComputeFullU | Eigen::ComputeFullV);
    Eigen::Matrix3d u = svd.matrixU(), v = svd.matrixV();
    double d = (v * u.transpose()).determinant() < 0 ? -1.0 : 1.0;
    Eigen::Vector3d diag(1.0, 1.0, d);
    rotation = v * diag.asDiagonal() * u.transpose();
    // R^T A (A = M^T) = U diag(s1, s2, d s3) U^T: its eigenvectors and eigenvalues, for the backward pass.
    eigenvectors = u;
    eigenvalues = svd.singularValues().cwiseProduct(diag);
    Eigen::Map<Eigen::Matrix3Xd> y(features.data(), 3, numAtoms);
    y = (rotation * centered).colwise() + referenceCenter;
}

// With h_a = R^T g_a and B = sum_a p_a h_a^T, a change dA of A = sum q_a p_a^T rotates R by
// dR = R Omega, Omega S + S Omega = R^T dA - dA^T R (S = R^T A symmetric at the optimum). In the
// eigenbasis of S this is Omega'_ij = W'_ij / (l_i + l_j); its adjoint gives
// dE/dp_a = h_a + N^T q_a with N = 2 R C, C = L(antisym(B^T)); then remove the mean (centring).
void NativeFeatureMap::backwardCartesian(const std::vector<double>& dEdFeatures, std::vector<double>& dEdPositions) {
    Eigen::Map<const Eigen::Matrix3Xd> g(dEdFeatures.data(), 3, numAtoms);
    Eigen::Matrix3Xd h = rotation.transpose() * g;
    Eigen::Matrix3d b = centered * h.transpose();
    Eigen::Matrix3d k = 0.5 * (b.transpose() - b);
    Eigen::Matrix3d kPrime = eigenvectors.transpose() * k * eigenvectors;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            kPrime(i, j) = i == j ? 0.0 : kPrime(i, j) / (eigenvalues[i] + eigenvalues[j]);
    Eigen::Matrix3d c = eigenvectors * kPrime * eigenvectors.transpose();
    Eigen::Matrix3d n = 2.0 * rotation * c;
    Eigen::Matrix3Xd dp = h + n.transpose() * referenceCentered;
    Eigen::Map<Eigen::Matrix3Xd> out(dEdPositions.data(), 3, numAtoms);
    out = dp.colwise() - dp.rowwise().mean();
}

void NativeFeatureMap::evaluateBat(std::vector<double>& features) {
    int rows = rowI.size(), free = freeRows.size();
    Vec3 r0 = atom(root[0]), r1 = atom(root[1]), r2 = atom(root[2]);
    features[0] = (r1 - r0).norm();
    features[1] = (r2 - r1).norm();
    features[2 + free] = angle(r0, r1, r2);
    std::vector<double>& torsion = torsionGradient;  // scratch: absolute torsions
    for (int t = 0; t < rows; t++) {
        Vec3 i = atom(rowI[t]), j = atom(rowJ[t]), k = atom(rowK[t]), l = atom(rowL[t]);
        if (freeFeature[t] >= 0)
            features[freeFeature[t]] = (i - j).norm();
        features[3 + free + t] = angle(i, j, k);
        torsion[t] = dihedral(i, j, k, l);
    }
    for (int t = 0; t < rows; t++) {
        int ref = torsionReference[t];
        features[3 + free + rows + t] = wrap(ref == t ? torsion[t] : torsion[t] - torsion[ref]);
    }
}

void NativeFeatureMap::backwardBat(const std::vector<double>& dEdFeatures, std::vector<double>& dEdPositions) {
    int rows = rowI.size(), free = freeRows.size();
    auto bondGradient = [&](int a, int b, double g) {
        Vec3 u = atom(a) - atom(b);
        Vec3 dir = u / u.norm();
        add(dEdPositions, a, g * dir);
        add(dEdPositions, b, -g * dir);
    };
    // theta at b between a and c: dtheta/da = -(w^ - cos u^) / (|u| sin), dtheta/dc likewise, b takes minus both.
    auto angleGradient = [&](int a, int b, int c, double g) {
        Vec3 u = atom(a) - atom(b), w = atom(c) - atom(b);
        double lu = u.norm(), lw = w.norm();
        Vec3 uh = u / lu, wh = w / lw;
        double cosine = uh.dot(wh), sine = uh.cross(wh).norm();
        Vec3 da = -(wh - cosine * uh) / (lu * sine), dc = -(uh - cosine * wh) / (lw * sine);
        add(dEdPositions, a, g * da);
        add(dEdPositions, c, g * dc);
        add(dEdPositions, b, -g * (da + dc));
    };
    bondGradient(root[1], root[0], dEdFeatures[0]);
    bondGradient(root[2], root[1], dEdFeatures[1]);
    angleGradient(root[0], root[1], root[2], dEdFeatures[2 + free]);
    // dE/d(absolute torsion): a relative torsion t - ref feeds +g to t and -g to ref.
    std::fill(torsionGradient.begin(), torsionGradient.end(), 0.0);
    for (int t = 0; t < rows; t++) {
        double g = dEdFeatures[3 + free + rows + t];
        torsionGradient[t] += g;
        if (torsionReference[t] != t)
            torsionGradient[torsionReference[t]] -= g;
    }
    for (int t = 0; t < rows; t++) {
        if (freeFeature[t] >= 0)
            bondGradient(rowI[t], rowJ[t], dEdFeatures[freeFeature[t]]);
        angleGradient(rowI[t], rowJ[t], rowK[t], dEdFeatures[3 + free + t]);
        // Torsion (p0, p1, p2, p3) = (i, j, k, l), Blondel & Karplus (1996) with F = p0 - p1, G = p1 - p2, H = p3 - p2.
        double g = torsionGradient[t];
        if (g == 0.0)
            continue;
        Vec3 p0 = atom(rowI[t]), p1 = atom(rowJ[t]), p2 = atom(rowK[t]), p3 = atom(rowL[t]);
        Vec3 f = p0 - p1, gv = p1 - p2, h = p3 - p2;
        Vec3 a = f.cross(gv), b = h.cross(gv);
        double a2 = a.squaredNorm(), b2 = b.squaredNorm(), lg = gv.norm();
        Vec3 d0 = -lg / a2 * a, d3 = lg / b2 * b;
        Vec3 d1 = lg / a2 * a + f.dot(gv) / (a2 * lg) * a - h.dot(gv) / (b2 * lg) * b;
        Vec3 d2 = -lg / b2 * b - f.dot(gv) / (a2 * lg) * a + h.dot(gv) / (b2 * lg) * b;
        add(dEdPositions, rowI[t], g * d0);
        add(dEdPositions, rowJ[t], g * d1);
        add(dEdPositions, rowK[t], g * d2);
        add(dEdPositions, rowL[t], g * d3);
    }
}

void NativeFeatureMap::setConstrainedBondLengths(const std::vector<double>& perRow) {
    if (kind != FeatureKind::Bat)
        throw std::invalid_argument(std::string("NativeFeatureMap: constrained bond lengths are only for bat features, not '") +
                                    featureKindName(kind) + "'");
    if (perRow.size() != rowI.size())
        throw std::invalid_argument("NativeFeatureMap: " + std::to_string(perRow.size()) + " constrained bond lengths for " +
                                    std::to_string(rowI.size()) + " bat rows");
    for (int t = 0; t < (int) perRow.size(); t++)
        if (rowConstrained[t] && !(std::isfinite(perRow[t]) && perRow[t] > 0))
            throw std::invalid_argument("NativeFeatureMap: constrained bond length " + std::to_string(perRow[t]) + " nm of bat row " +
                                        std::to_string(t) + " is not positive");
    bondLength = perRow;
}

double NativeFeatureMap::logJacobian(const double* features) const {
    if (kind == FeatureKind::Polar)
        return std::log(features[0]);
    if (kind != FeatureKind::Bat)
        return 0.0;
    int rows = rowI.size(), free = freeRows.size();
    double sum = 0.0;
    for (int b = 0; b < 2 + free; b++)
        sum += 2.0 * std::log(features[b]);
    for (int a = 0; a < 1 + rows; a++)
        sum += std::log(std::sin(features[2 + free + a]));
    return sum;
}

void NativeFeatureMap::positionsFromFeatures(const double* features, const std::vector<double>& reference, std::vector<double>& out) const {
    if ((int) reference.size() != 3 * numAtoms)
        throw std::invalid_argument("NativeFeatureMap: a reference of " + std::to_string(reference.size()) + " coordinates for " +
                                    std::to_string(numAtoms) + " atoms");
    if (kind == FeatureKind::Cartesian)
        throw std::invalid_argument("NativeFeatureMap: cartesian features do not determine positions (the orientation is not kept)");
    out = reference;
    if (kind == FeatureKind::Positions) {
        out.assign(features, features + numFeatures);
        return;
    }
    if (kind == FeatureKind::XY) {
        out[0] = features[0];
        out[1] = features[1];
        return;
    }
    if (kind == FeatureKind::Polar) {
        out[0] = features[0] * std::cos(features[1]);
        out[1] = features[0] * std::sin(features[1]);
        return;
    }
    // bat, step by step as the bundle's positions_from_features (same operations, same order).
    int rows = rowI.size(), free = freeRows.size();
    auto at = [&](int i) { return Vec3(out[3 * i], out[3 * i + 1], out[3 * i + 2]); };
    auto set = [&](int i, const Vec3& v) {
        for (int d = 0; d < 3; d++)
            out[3 * i + d] = v[d];
    };
    // External coordinates from the reference: r0, the direction r0->r1, the plane of r0, r1, r2.
    Vec3 p0 = at(root[0]);
    Vec3 u = at(root[1]) - p0;
    u = u / u.norm();
    Vec3 w = at(root[2]) - at(root[1]);
    w = w - w.dot(u) * u;
    w = w / w.norm();
    double rootAngle = features[2 + free];
    Vec3 p1 = p0 + features[0] * u;
    Vec3 p2 = p1 + features[1] * (-std::cos(rootAngle) * u + std::sin(rootAngle) * w);
    set(root[1], p1);
    set(root[2], p2);
    std::vector<double> absolute(rows);
    for (int t = 0; t < rows; t++) {
        int first = torsionReference[t];
        if (first > t)
            throw std::invalid_argument("NativeFeatureMap: bat row " + std::to_string(t) + " takes its torsion from the later row " +
                                        std::to_string(first));
        double torsion = features[3 + free + rows + t];
        if (first != t)
            torsion = torsion + absolute[first];
        absolute[t] = torsion;
        double bond = freeFeature[t] >= 0 ? features[freeFeature[t]] : bondLength[t];
        double angle = features[3 + free + t];
        // bat_place(a = l, b = k, c = j)
        Vec3 a = at(rowL[t]), b = at(rowK[t]), c = at(rowJ[t]);
        Vec3 bc = c - b;
        bc = bc / bc.norm();
        Vec3 n = (b - a).cross(bc);
        n = n / n.norm();
        Vec3 m = n.cross(bc);
        double along = -bond * std::cos(angle), across = bond * std::sin(angle);
        set(rowI[t], c + along * bc + across * (std::cos(torsion) * m + std::sin(torsion) * n));
    }
}
