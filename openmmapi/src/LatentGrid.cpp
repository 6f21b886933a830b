#include "LatentGrid.h"
#include "openmm/OpenMMException.h"
#include <cmath>
#include <sstream>

using namespace VAEPlugin;
using namespace OpenMM;

namespace {

std::string number(double x) {
    std::ostringstream out;
    out.precision(17);
    out << x;
    return out.str();
}

/**
 * The grid points that carry weight along one dimension and their weights for the value and for
 * d/dz. Catmull-Rom needs the four points i-1..i+2 of the cell [i, i+1]; a point beyond a
 * non-periodic end is the linear extrapolation of the last two (2 f_end - f_next), so it adds to
 * two real points: at most 6 entries.
 */
struct AxisStencil {
    int count = 0;
    int node[6];
    double weight[6], derivative[6];
    void add(int n, double w, double dw) {
        node[count] = n;
        weight[count] = w;
        derivative[count] = dw;
        count++;
    }
};

} // namespace

LatentGrid::LatentGrid(const std::vector<double>& mins, const std::vector<double>& maxs, const std::vector<int>& sizes,
                       const std::vector<bool>& periodic)
    : mins(mins), maxs(maxs), sizes(sizes), periodic(periodic), wallForceConstant(DefaultWallForceConstant) {
    int dims = mins.size();
    if (maxs.size() != mins.size() || sizes.size() != mins.size() || periodic.size() != mins.size())
        throw OpenMMException("LatentGrid: mins, maxs, sizes and periodic must have the same length (got " + std::to_string(mins.size()) + ", " +
                              std::to_string(maxs.size()) + ", " + std::to_string(sizes.size()) + ", " + std::to_string(periodic.size()) + ")");
    if (dims < 1 || dims > 4)
        throw OpenMMException("LatentGrid: the number of dimensions must be 1 to 4, got " + std::to_string(dims));
    long long total = 1;
    for (int d = 0; d < dims; d++) {
        if (!std::isfinite(mins[d]) || !std::isfinite(maxs[d]))
            throw OpenMMException("LatentGrid: the bounds of dimension " + std::to_string(d) + " are not finite (min " + number(mins[d]) +
                                  ", max " + number(maxs[d]) + ")");
        if (!(maxs[d] > mins[d]))
            throw OpenMMException("LatentGrid: dimension " + std::to_string(d) + " has max " + number(maxs[d]) + " <= min " + number(mins[d]));
        int minimum = periodic[d] ? 3 : 2;
        if (sizes[d] < minimum)
            throw OpenMMException("LatentGrid: dimension " + std::to_string(d) + " has " + std::to_string(sizes[d]) + " points; a " +
                                  (periodic[d] ? "periodic" : "non-periodic") + " dimension needs at least " + std::to_string(minimum));
        total *= sizes[d];
        if (total > 100000000)
            throw OpenMMException("LatentGrid: more than 1e8 grid points (dimension " + std::to_string(d) + " has " + std::to_string(sizes[d]) + ")");
        spacing.push_back((maxs[d] - mins[d]) / (periodic[d] ? sizes[d] : sizes[d] - 1));
    }
    strides.assign(dims, 1);
    for (int d = dims - 2; d >= 0; d--)
        strides[d] = strides[d + 1] * sizes[d + 1];
    values.assign(total, 0.0);
}

void LatentGrid::setValues(const std::vector<double>& v) {
    if (v.size() != values.size())
        throw OpenMMException("LatentGrid.setValues: got " + std::to_string(v.size()) + " values for a grid of " + std::to_string(values.size()) + " points");
    for (int i = 0; i < (int) v.size(); i++)
        if (!std::isfinite(v[i]))
            throw OpenMMException("LatentGrid.setValues: value " + std::to_string(i) + " is not finite (" + number(v[i]) + ")");
    values = v;
}

void LatentGrid::setWallForceConstant(double k) {
    if (!(k >= 0) || !std::isfinite(k))
        throw OpenMMException("LatentGrid.setWallForceConstant: the force constant must be finite and >= 0, got " + number(k));
    wallForceConstant = k;
}

bool LatentGrid::hasSameGeometry(const LatentGrid& other) const {
    return mins == other.mins && maxs == other.maxs && sizes == other.sizes && periodic == other.periodic;
}

std::vector<double> LatentGrid::getPoint(int index) const {
    if (index < 0 || index >= (int) values.size())
        throw OpenMMException("LatentGrid.getPoint: index " + std::to_string(index) + " is out of range (the grid has " +
                              std::to_string(values.size()) + " points)");
    std::vector<double> point(mins.size());
    for (int d = 0; d < (int) mins.size(); d++)
        point[d] = mins[d] + ((index / strides[d]) % sizes[d]) * spacing[d];
    return point;
}

void LatentGrid::addGaussian(const std::vector<double>& center, const std::vector<double>& sigma, double height) {
    int dims = mins.size();
    if ((int) center.size() != dims || (int) sigma.size() != dims)
        throw OpenMMException("LatentGrid.addGaussian: the grid has " + std::to_string(dims) + " dimension(s) but the center has " +
                              std::to_string(center.size()) + " and sigma " + std::to_string(sigma.size()) + " entries");
    for (int d = 0; d < dims; d++) {
        if (!std::isfinite(center[d]))
            throw OpenMMException("LatentGrid.addGaussian: center coordinate " + std::to_string(d) + " is not finite (" + number(center[d]) + ")");
        if (!(sigma[d] > 0) || !std::isfinite(sigma[d]))
            throw OpenMMException("LatentGrid.addGaussian: sigma " + std::to_string(d) + " must be finite and > 0, got " + number(sigma[d]));
    }
    if (!std::isfinite(height))
        throw OpenMMException("LatentGrid.addGaussian: the height is not finite (" + number(height) + ")");
    // The Gaussian factorizes: one table of exp(-dz^2 / 2 sigma^2) per dimension.
    std::vector<std::vector<double>> factor(dims);
    for (int d = 0; d < dims; d++) {
        double period = maxs[d] - mins[d];
        for (int i = 0; i < sizes[d]; i++) {
            double dz = mins[d] + i * spacing[d] - center[d];
            if (periodic[d])
                dz -= period * std::round(dz / period);
            factor[d].push_back(std::exp(-dz * dz / (2 * sigma[d] * sigma[d])));
        }
    }
    for (int index = 0; index < (int) values.size(); index++) {
        double g = height;
        for (int d = 0; d < dims; d++)
            g *= factor[d][(index / strides[d]) % sizes[d]];
        values[index] += g;
    }
}

double LatentGrid::evaluate(const std::vector<double>& z, std::vector<double>& gradient) const {
    int dims = mins.size();
    if ((int) z.size() != dims)
        throw OpenMMException("LatentGrid.evaluate: the grid has " + std::to_string(dims) + " dimension(s) but z has " + std::to_string(z.size()));
    AxisStencil stencil[4];
    double wall = 0.0, wallGradient[4] = {0, 0, 0, 0};
    bool clamped[4] = {false, false, false, false};
    for (int d = 0; d < dims; d++) {
        if (!std::isfinite(z[d]))
            throw OpenMMException("LatentGrid.evaluate: latent coordinate " + std::to_string(d) + " is not finite (" + number(z[d]) + ")");
        int n = sizes[d];
        double u;
        if (periodic[d]) {
            u = (z[d] - mins[d]) / spacing[d];
            u -= n * std::floor(u / n);
        }
        else {
            double zc = std::min(std::max(z[d], mins[d]), maxs[d]);
            if (zc != z[d]) {
                double delta = z[d] - zc;
                wall += 0.5 * wallForceConstant * delta * delta;
                wallGradient[d] = wallForceConstant * delta;
                clamped[d] = true;
            }
            u = (zc - mins[d]) / spacing[d];
        }
        int i = std::min((int) std::floor(u), n - (periodic[d] ? 1 : 2));
        double t = u - i, t2 = t * t, t3 = t2 * t, h = spacing[d];
        // Catmull-Rom basis on the points i-1, i, i+1, i+2 and its derivative d/dz.
        const double w[4] = {0.5 * (-t3 + 2 * t2 - t), 0.5 * (3 * t3 - 5 * t2 + 2), 0.5 * (-3 * t3 + 4 * t2 + t), 0.5 * (t3 - t2)};
        const double dw[4] = {0.5 * (-3 * t2 + 4 * t - 1) / h, 0.5 * (9 * t2 - 10 * t) / h, 0.5 * (-9 * t2 + 8 * t + 1) / h,
                              0.5 * (3 * t2 - 2 * t) / h};
        for (int a = 0; a < 4; a++) {
            int node = i - 1 + a;
            if (periodic[d])
                stencil[d].add(((node % n) + n) % n, w[a], dw[a]);
            else if (node < 0) {  // 2 f_0 - f_1
                stencil[d].add(0, 2 * w[a], 2 * dw[a]);
                stencil[d].add(1, -w[a], -dw[a]);
            }
            else if (node >= n) {  // 2 f_{n-1} - f_{n-2}
                stencil[d].add(n - 1, 2 * w[a], 2 * dw[a]);
                stencil[d].add(n - 2, -w[a], -dw[a]);
            }
            else
                stencil[d].add(node, w[a], dw[a]);
        }
    }
    // Tensor product over the stencils (an odometer over the entries of each dimension).
    double value = 0.0;
    double grad[4] = {0, 0, 0, 0};
    int entry[4] = {0, 0, 0, 0};
    while (true) {
        int index = 0;
        for (int d = 0; d < dims; d++)
            index += stencil[d].node[entry[d]] * strides[d];
        double f = values[index];
        double product = f;
        for (int d = 0; d < dims; d++)
            product *= stencil[d].weight[entry[d]];
        value += product;
        for (int d = 0; d < dims; d++) {
            double g = f * stencil[d].derivative[entry[d]];
            for (int e = 0; e < dims; e++)
                if (e != d)
                    g *= stencil[e].weight[entry[e]];
            grad[d] += g;
        }
        int d = dims - 1;
        while (d >= 0 && ++entry[d] == stencil[d].count)
            entry[d--] = 0;
        if (d < 0)
            break;
    }
    gradient.resize(dims);
    for (int d = 0; d < dims; d++)
        gradient[d] = (clamped[d] ? 0.0 : grad[d]) + wallGradient[d];
    return value + wall;
}
