// The dense kernels of every instruction set this library holds and this CPU runs, against the
// baseline set and a plain double-precision loop; the CV evaluator of each set against the
// baseline's; forcing a set by name. Built with and without LibTorch. Run once more by ctest with
// OPENMMVAE_INSTRUCTION_SET=baseline (TestDenseKernelsForcedBaseline): what a CPU without AVX2 or
// AVX-512 runs.

#include "NativeCVEvaluator.h"
#include "NativeSelfCheck.h"
#include "TestData.h"
#include "VAEModelBundle.h"
#include "isa/DenseKernels.h"
#include "openmm/OpenMMException.h"
#include <gtest/gtest.h>
#include <cmath>
#include <cstdlib>
#include <random>
#include <type_traits>

using namespace VAEPlugin;

namespace {

struct Shape {
    int rows, cols;
};
// Rows and columns below, at and around the vector widths, the paper's layers (300 x 300, 300 x 67, 2 x 300).
const std::vector<Shape> shapes = {{1, 1}, {3, 5}, {7, 2}, {8, 9}, {16, 16}, {17, 31}, {33, 4}, {300, 300}, {300, 67}, {2, 300}, {67, 300}};

template <class T>
std::vector<T> randomValues(std::mt19937& rng, int n, double zeroFraction) {
    std::uniform_real_distribution<double> u(-1.0, 1.0), p(0.0, 1.0);
    std::vector<T> v(n);
    for (T& x : v) x = p(rng) < zeroFraction ? T(0) : (T) u(rng);
    return v;
}

template <class T>
void checkKernels(const DenseKernels& k, double tolerance) {
    constexpr bool single = std::is_same_v<T, float>;
    const auto axpy = [&] { if constexpr (single) return k.axpyNonzeroColumnsFloat; else return k.axpyNonzeroColumnsDouble; }();
    const auto dot = [&] { if constexpr (single) return k.dotMaskedColumnsFloat; else return k.dotMaskedColumnsDouble; }();
    std::mt19937 rng(7);
    for (const Shape& s : shapes) {
        SCOPED_TRACE(std::to_string(s.rows) + " x " + std::to_string(s.cols));
        const int lda = s.rows + 3;  // a leading dimension beyond the rows
        const std::vector<T> a = randomValues<T>(rng, lda * s.cols, 0.0), x = randomValues<T>(rng, s.cols, 0.4),
                             g = randomValues<T>(rng, s.rows, 0.0), mask = randomValues<T>(rng, s.cols, 0.0);
        std::vector<T> y = randomValues<T>(rng, s.rows, 0.0), y0 = y;
        axpy(s.rows, s.cols, a.data(), lda, x.data(), y.data());
        for (int i = 0; i < s.rows; i++) {
            double expect = y0[i], magnitude = std::fabs(expect);
            for (int j = 0; j < s.cols; j++) {
                expect += (double) a[j * lda + i] * x[j];
                magnitude += std::fabs((double) a[j * lda + i] * x[j]);
            }
            EXPECT_NEAR(y[i], expect, tolerance * (1 + magnitude)) << "axpy row " << i;
        }
        for (const T* m : {(const T*) nullptr, mask.data()}) {
            std::vector<T> out(s.cols, T(99));
            dot(s.rows, s.cols, a.data(), lda, g.data(), m, out.data());
            for (int j = 0; j < s.cols; j++) {
                double expect = 0, magnitude = 0;
                for (int i = 0; i < s.rows; i++) {
                    expect += (double) a[j * lda + i] * g[i];
                    magnitude += std::fabs((double) a[j * lda + i] * g[i]);
                }
                if (m != nullptr && !(m[j] > 0)) EXPECT_EQ(out[j], T(0)) << "masked column " << j;
                else EXPECT_NEAR(out[j], expect, tolerance * (1 + magnitude)) << "dot column " << j;
            }
        }
    }
}

} // namespace

TEST(DenseKernels, EverySupportedSetMatchesPlainLoops) {
    const std::vector<std::string> sets = supportedInstructionSets();
    ASSERT_FALSE(sets.empty());
    EXPECT_EQ(sets.front(), "baseline");
    for (const std::string& name : sets) {
        SCOPED_TRACE(name);
        const DenseKernels* k = denseKernelsFor(name);
        ASSERT_NE(k, nullptr);
        EXPECT_EQ(std::string(k->name), name);
        checkKernels<float>(*k, 2e-6);
        checkKernels<double>(*k, 1e-14);
        // the double products of the VAE-MC networks
        std::mt19937 rng(3);
        for (const Shape& s : shapes) {
            const std::vector<double> a = randomValues<double>(rng, s.rows * s.cols, 0.0), x = randomValues<double>(rng, s.cols, 0.0);
            std::vector<double> y(s.rows, 0.0), y1(s.rows, 0.0), y2(s.rows, 0.0), rows(s.cols, 0.0);
            k->multiplyAdd(s.rows, s.cols, a.data(), s.rows, x.data(), y.data());
            k->multiplyAdd2(s.rows, s.cols, a.data(), s.rows, x.data(), x.data(), y1.data(), y2.data());
            for (int i = 0; i < s.rows; i++) {
                double expect = 0;
                for (int j = 0; j < s.cols; j++) expect += a[j * s.rows + i] * x[j];
                EXPECT_NEAR(y[i], expect, 1e-13 * (1 + s.cols));
                EXPECT_NEAR(y1[i], expect, 1e-13 * (1 + s.cols));
                EXPECT_NEAR(y2[i], expect, 1e-13 * (1 + s.cols));
            }
            // the same matrix read row-major as its transpose (cols x rows)
            const std::vector<double> g = randomValues<double>(rng, s.rows, 0.0);
            k->rowsMultiplyAdd(s.cols, s.rows, a.data(), s.rows, g.data(), rows.data());
            for (int j = 0; j < s.cols; j++) {
                double expect = 0;
                for (int i = 0; i < s.rows; i++) expect += a[j * s.rows + i] * g[i];
                EXPECT_NEAR(rows[j], expect, 1e-13 * (1 + s.rows));
            }
        }
    }
}

// The whole CV (features, encoder, backward to the positions) of alanine bundles with each set,
// against the baseline set: the same numbers up to the rounding of another summation order.
TEST(DenseKernels, CVEvaluatorAgreesAcrossInstructionSets) {
    const std::string original = denseKernels().name;
    for (const char* file : {"ala-bat-shuffled-hbonds.pt", "ala-cartesian-heavy-shuffled.pt", "positions-4atoms.pt"}) {
        SCOPED_TRACE(file);
        std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(VAETest::dataPath(file));
        const int numAtoms = bundle->getMetadataAtoms().size();
        NativeSelfCheck check = checkNativeAgainstBundle(*bundle, numAtoms);
        ASSERT_TRUE(check.agrees()) << check.whyNot;
        std::vector<double> positions = VAEModelBundle::probePositions(numAtoms);
        std::mt19937 rng(11);
        std::normal_distribution<double> jitter(0.0, 0.01);
        for (double& p : positions) p += jitter(rng);
        for (const char* precision : {"single", "double"}) {
            SCOPED_TRACE(precision);
            const double tolerance = std::string(precision) == "single" ? 2e-5 : 1e-11;
            std::vector<double> zBase, gradBase, dEdz;
            for (const std::string& set : supportedInstructionSets()) {
                SCOPED_TRACE(set);
                selectDenseKernels(set);
                std::unique_ptr<CVEvaluator> evaluator = createNativeCVEvaluator(check.spec, precision);
                std::vector<double> z, grad;
                evaluator->evaluate(positions, z, true);
                if (dEdz.empty())
                    for (int k = 0; k < (int) z.size(); k++) dEdz.push_back(1.0 + 0.5 * k);
                evaluator->backward(dEdz, grad);
                if (set == "baseline") {  // that it is the bundle's CV, check.agrees() says above
                    zBase = z;
                    gradBase = grad;
                    continue;
                }
                ASSERT_EQ(z.size(), zBase.size());
                double gradScale = 0;
                for (double v : gradBase) gradScale = std::max(gradScale, std::fabs(v));
                for (size_t k = 0; k < z.size(); k++) EXPECT_NEAR(z[k], zBase[k], tolerance * (1 + std::fabs(zBase[k])));
                for (size_t i = 0; i < grad.size(); i++) EXPECT_NEAR(grad[i], gradBase[i], tolerance * (1 + gradScale)) << "gradient " << i;
            }
        }
    }
    selectDenseKernels(original);
}

TEST(DenseKernels, AnUnknownOrUnsupportedSetIsRefusedByName) {
    const std::string original = denseKernels().name;
    for (const char* name : {"avx9000", "", "x86-64-v5"}) {
        try {
            selectDenseKernels(name);
            FAIL() << "accepted '" << name << "'";
        } catch (const OpenMM::OpenMMException& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("'") + name + "'"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("baseline"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(std::string(denseKernels().name), original) << "a refused choice must not change the set in use";
}

// Under ctest's TestDenseKernelsForcedBaseline the environment names the set; it must be the one in use.
TEST(DenseKernels, TheEnvironmentForcesASet) {
    const char* forced = std::getenv("OPENMMVAE_INSTRUCTION_SET");
    if (forced == nullptr) GTEST_SKIP() << "OPENMMVAE_INSTRUCTION_SET not set (ctest runs this with it)";
    EXPECT_EQ(std::string(denseKernels().name), forced);
}
