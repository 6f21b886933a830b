// LatentGrid: interpolation (exact at the grid points, exact for linear and quadratic functions,
// gradient against finite differences, C1 across cell faces, periodic wraps), walls beyond the
// edges, Gaussian deposition against the direct formula, bad input.

#include "LatentGrid.h"
#include "openmm/OpenMMException.h"
#include <gtest/gtest.h>
#include <cmath>
#include <functional>
#include <random>

using namespace VAEPlugin;
using OpenMM::OpenMMException;

namespace {

void randomize(LatentGrid& grid, int seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal(0.0, 3.0);
    std::vector<double> values(grid.getNumPoints());
    for (double& v : values)
        v = normal(rng);
    grid.setValues(values);
}

void fill(LatentGrid& grid, const std::function<double(const std::vector<double>&)>& f) {
    std::vector<double> values(grid.getNumPoints());
    for (int i = 0; i < grid.getNumPoints(); i++)
        values[i] = f(grid.getPoint(i));
    grid.setValues(values);
}

/** Central finite differences of evaluate() against its gradient at z. */
void expectGradientMatchesFiniteDifferences(const LatentGrid& grid, const std::vector<double>& z, double tolerance) {
    std::vector<double> gradient, unused;
    grid.evaluate(z, gradient);
    const double h = 1e-6;
    for (int d = 0; d < (int) z.size(); d++) {
        std::vector<double> plus = z, minus = z;
        plus[d] += h;
        minus[d] -= h;
        double numerical = (grid.evaluate(plus, unused) - grid.evaluate(minus, unused)) / (2 * h);
        EXPECT_NEAR(gradient[d], numerical, tolerance * (1 + std::fabs(numerical))) << "dimension " << d << " at z[0] = " << z[0];
    }
}

void expectThrowContaining(const std::function<void()>& f, const std::string& fragment) {
    try {
        f();
        ADD_FAILURE() << "no exception; expected one containing '" << fragment << "'";
    }
    catch (const OpenMMException& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

} // namespace

TEST(LatentGrid, GeometryAndPoints) {
    LatentGrid grid({-1.0, 0.0}, {1.0, 6.0}, {5, 3}, {false, true});
    EXPECT_EQ(grid.getNumDimensions(), 2);
    EXPECT_EQ(grid.getNumPoints(), 15);
    EXPECT_DOUBLE_EQ(grid.getSpacing(0), 0.5);  // (max - min) / (n - 1)
    EXPECT_DOUBLE_EQ(grid.getSpacing(1), 2.0);  // period / n
    std::vector<double> p = grid.getPoint(7);   // row 2, column 1 (last dimension fastest)
    EXPECT_DOUBLE_EQ(p[0], 0.0);
    EXPECT_DOUBLE_EQ(p[1], 2.0);
    p = grid.getPoint(14);
    EXPECT_DOUBLE_EQ(p[0], 1.0);
    EXPECT_DOUBLE_EQ(p[1], 4.0);
    EXPECT_EQ(grid.getWallForceConstant(), LatentGrid::DefaultWallForceConstant);
}

TEST(LatentGrid, InterpolatesTheValuesAtTheGridPoints) {
    for (bool periodic : {false, true}) {
        LatentGrid grid({-2.0, 0.5, -1.0}, {2.0, 3.0, 1.0}, {6, 5, 4}, {periodic, !periodic, periodic});
        randomize(grid, 3);
        std::vector<double> gradient;
        for (int i = 0; i < grid.getNumPoints(); i++)
            EXPECT_NEAR(grid.evaluate(grid.getPoint(i), gradient), grid.getValues()[i], 1e-12) << "point " << i;
    }
}

TEST(LatentGrid, ExactForLinearFunctionsEverywhereAndQuadraticsInside) {
    LatentGrid grid({-1.0, -2.0}, {1.0, 2.0}, {9, 11}, {false, false});
    grid.setWallForceConstant(0.0);
    fill(grid, [](const std::vector<double>& z) { return 2.0 * z[0] - 3.0 * z[1] + 0.5; });
    std::mt19937 rng(1);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> gradient;
    for (int trial = 0; trial < 200; trial++) {  // including the edge cells (one-sided tangents)
        std::vector<double> z = {-1.0 + 2.0 * u(rng), -2.0 + 4.0 * u(rng)};
        EXPECT_NEAR(grid.evaluate(z, gradient), 2.0 * z[0] - 3.0 * z[1] + 0.5, 1e-12);
        EXPECT_NEAR(gradient[0], 2.0, 1e-10);
        EXPECT_NEAR(gradient[1], -3.0, 1e-10);
    }
    // Catmull-Rom tangents are exact for quadratics, so the interior cells reproduce them.
    fill(grid, [](const std::vector<double>& z) { return z[0] * z[0] - z[0] * z[1] + 0.25 * z[1] * z[1]; });
    for (int trial = 0; trial < 200; trial++) {
        std::vector<double> z = {-0.75 + 1.5 * u(rng), -1.6 + 3.2 * u(rng)};
        EXPECT_NEAR(grid.evaluate(z, gradient), z[0] * z[0] - z[0] * z[1] + 0.25 * z[1] * z[1], 1e-12);
        EXPECT_NEAR(gradient[0], 2 * z[0] - z[1], 1e-10);
        EXPECT_NEAR(gradient[1], -z[0] + 0.5 * z[1], 1e-10);
    }
}

TEST(LatentGrid, GradientMatchesFiniteDifferencesInOneToFourDimensions) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int dims = 1; dims <= 4; dims++) {
        std::vector<double> mins, maxs;
        std::vector<int> sizes;
        std::vector<bool> periodic;
        for (int d = 0; d < dims; d++) {
            mins.push_back(-1.0 - d);
            maxs.push_back(1.5 + 0.5 * d);
            sizes.push_back(dims == 4 ? 5 : 7 + d);
            periodic.push_back(d % 2 == 1);
        }
        LatentGrid grid(mins, maxs, sizes, periodic);
        randomize(grid, dims);
        for (int trial = 0; trial < 30; trial++) {
            std::vector<double> z;
            for (int d = 0; d < dims; d++)  // periodic dimensions are also sampled outside [min, max) (wraps)
                z.push_back(periodic[d] ? mins[d] - 3.0 + (maxs[d] - mins[d] + 6.0) * u(rng) : mins[d] + (maxs[d] - mins[d]) * u(rng));
            expectGradientMatchesFiniteDifferences(grid, z, 1e-6);
        }
    }
}

TEST(LatentGrid, ContinuousValueAndGradientAcrossCellFacesAndPeriodicSeam) {
    LatentGrid grid({-1.0, 0.0}, {1.0, 2 * M_PI}, {7, 8}, {false, true});
    randomize(grid, 11);
    const double eps = 1e-9;
    std::vector<double> gLeft, gRight;
    // Faces of dimension 0 (non-periodic) at every interior grid line, y arbitrary.
    for (int i = 1; i < 6; i++) {
        double face = -1.0 + i * grid.getSpacing(0);
        double left = grid.evaluate({face - eps, 1.3}, gLeft), right = grid.evaluate({face + eps, 1.3}, gRight);
        EXPECT_NEAR(left, right, 1e-7);
        EXPECT_NEAR(gLeft[0], gRight[0], 1e-6) << "face " << i;
        EXPECT_NEAR(gLeft[1], gRight[1], 1e-6);
    }
    // The periodic seam: z1 = 0 seen from both sides, and z1 + period.
    double below = grid.evaluate({0.2, -eps}, gLeft), above = grid.evaluate({0.2, eps}, gRight);
    EXPECT_NEAR(below, above, 1e-7);
    EXPECT_NEAR(gLeft[1], gRight[1], 1e-6);
    std::vector<double> gShifted;
    double shifted = grid.evaluate({0.2, 0.7 + 2 * 2 * M_PI}, gShifted), base = grid.evaluate({0.2, 0.7}, gRight);
    EXPECT_NEAR(shifted, base, 1e-10);
    EXPECT_NEAR(gShifted[1], gRight[1], 1e-9);
    // Straddling a grid line the second derivative jumps (the interpolant is C1, not C2), so the
    // central difference has an O(h) error there.
    expectGradientMatchesFiniteDifferences(grid, {0.2, 0.0}, 1e-4);
    expectGradientMatchesFiniteDifferences(grid, {0.2, 2 * M_PI - 1e-3}, 1e-6);
}

TEST(LatentGrid, HarmonicWallsBeyondNonPeriodicEdges) {
    LatentGrid grid({-1.0, -1.0}, {1.0, 1.0}, {5, 5}, {false, false});
    randomize(grid, 5);
    grid.setWallForceConstant(50.0);
    std::vector<double> gEdge, gOut;
    double edge = grid.evaluate({1.0, 0.3}, gEdge);
    double out = grid.evaluate({1.2, 0.3}, gOut);
    EXPECT_NEAR(out, edge + 0.5 * 50.0 * 0.04, 1e-12);
    EXPECT_NEAR(gOut[0], 50.0 * 0.2, 1e-12);  // the clamped coordinate: the wall only
    EXPECT_NEAR(gOut[1], gEdge[1], 1e-12);    // the free coordinate: the grid at the clamped point
    double corner = grid.evaluate({-1.5, -1.1}, gOut);
    EXPECT_NEAR(corner, grid.evaluate({-1.0, -1.0}, gEdge) + 0.5 * 50.0 * (0.25 + 0.01), 1e-12);
    EXPECT_NEAR(gOut[0], -25.0, 1e-12);
    EXPECT_NEAR(gOut[1], -5.0, 1e-12);
    expectGradientMatchesFiniteDifferences(grid, {1.3, 0.3}, 1e-6);
    expectGradientMatchesFiniteDifferences(grid, {0.1, -1.7}, 1e-6);
}

TEST(LatentGrid, AddGaussianMatchesTheDirectFormulaWithMinimumImage) {
    LatentGrid grid({-2.0, -M_PI}, {2.0, M_PI}, {21, 24}, {false, true});
    std::vector<double> center = {0.3, 2.9}, sigma = {0.4, 0.7};
    grid.addGaussian(center, sigma, 1.5);
    grid.addGaussian({-1.0, -3.0}, {0.2, 0.3}, 0.5);
    const double period = 2 * M_PI;
    for (int i = 0; i < grid.getNumPoints(); i++) {
        std::vector<double> p = grid.getPoint(i);
        double expected = 0.0;
        double dx = p[0] - 0.3, dy = p[1] - 2.9;
        dy -= period * std::round(dy / period);
        expected += 1.5 * std::exp(-dx * dx / (2 * 0.16) - dy * dy / (2 * 0.49));
        dx = p[0] + 1.0;
        dy = p[1] + 3.0;
        dy -= period * std::round(dy / period);
        expected += 0.5 * std::exp(-dx * dx / (2 * 0.04) - dy * dy / (2 * 0.09));
        EXPECT_NEAR(grid.getValues()[i], expected, 1e-14) << "point " << i;
    }
    // A hill near the seam reaches across it: the point at -pi sees the center at 2.9 at distance 2pi - 2.9 - pi.
    std::vector<double> atSeam = grid.getPoint(10 * 24);  // z = (0, -pi)
    EXPECT_GT(grid.getValues()[10 * 24], 0.5 * std::exp(-0.09 / 0.32 - std::pow(M_PI - 2.9, 2) / 0.98) - 1e-12);
    EXPECT_DOUBLE_EQ(atSeam[1], -M_PI);
}

TEST(LatentGrid, BadInputNamesTheDimensionAndValue) {
    expectThrowContaining([] { LatentGrid({0.0}, {1.0, 2.0}, {3}, {false}); }, "same length");
    expectThrowContaining([] { LatentGrid({}, {}, {}, {}); }, "1 to 4");
    expectThrowContaining([] { LatentGrid({0, 0, 0, 0, 0}, {1, 1, 1, 1, 1}, {3, 3, 3, 3, 3}, {false, false, false, false, false}); }, "got 5");
    expectThrowContaining([] { LatentGrid({0.0, 1.0}, {1.0, 0.5}, {3, 3}, {false, false}); }, "dimension 1 has max 0.5 <= min 1");
    expectThrowContaining([] { LatentGrid({0.0, 0.0}, {1.0, 1.0}, {3, 1}, {false, false}); }, "dimension 1 has 1 points");
    expectThrowContaining([] { LatentGrid({0.0}, {1.0}, {2}, {true}); }, "periodic dimension needs at least 3");
    expectThrowContaining([] { LatentGrid({NAN}, {1.0}, {4}, {false}); }, "dimension 0 are not finite");
    LatentGrid grid({0.0, 0.0}, {1.0, 1.0}, {3, 4}, {false, false});
    expectThrowContaining([&] { grid.setValues(std::vector<double>(11, 0.0)); }, "got 11 values for a grid of 12 points");
    std::vector<double> values(12, 0.0);
    values[5] = INFINITY;
    expectThrowContaining([&] { grid.setValues(values); }, "value 5 is not finite");
    expectThrowContaining([&] { grid.getPoint(12); }, "index 12 is out of range");
    std::vector<double> gradient;
    expectThrowContaining([&] { grid.evaluate({0.5}, gradient); }, "z has 1");
    expectThrowContaining([&] { grid.evaluate({0.5, NAN}, gradient); }, "latent coordinate 1 is not finite");
    expectThrowContaining([&] { grid.addGaussian({0.5, 0.5}, {0.1, 0.0}, 1.0); }, "sigma 1 must be finite and > 0");
    expectThrowContaining([&] { grid.addGaussian({0.5}, {0.1}, 1.0); }, "the center has 1");
    expectThrowContaining([&] { grid.setWallForceConstant(-1.0); }, "got -1");
}
