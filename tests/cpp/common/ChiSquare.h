#ifndef OPENMM_VAE_TEST_CHI_SQUARE_H_
#define OPENMM_VAE_TEST_CHI_SQUARE_H_

// The chi-square test of the exactness checks, shared by the plugin tests (tests/cpp) and the
// trainer's f_acc tests (tests/trainer/metrics). No dependencies beyond the standard library.

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>
#include <vector>

namespace VAETest {

/**
 * Chi-square of a 2-D histogram of independent samples (a, b) against the density exp(logDensity),
 * integrated numerically (midpoint rule, sub x sub points per bin) over the box. Bins whose expected
 * count is below 5 (and everything outside the box) are pooled into one bin. Returns chi2, sets dof.
 */
inline double chiSquare(const std::vector<std::pair<double, double>>& samples, const std::function<double(double, double)>& logDensity,
                        double a0, double a1, int na, double b0, double b1, int nb, int* dof, int sub = 12) {
    std::vector<double> expected(na * nb, 0.0);
    double total = 0;
    double da = (a1 - a0) / na, db = (b1 - b0) / nb;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) {
            double s = 0;
            for (int p = 0; p < sub; p++)
                for (int q = 0; q < sub; q++) {
                    double lp = logDensity(a0 + (i + (p + 0.5) / sub) * da, b0 + (j + (q + 0.5) / sub) * db);
                    if (std::isfinite(lp))
                        s += std::exp(lp);
                }
            expected[i * nb + j] = s;
            total += s;
        }
    const double n = samples.size();
    std::vector<double> observed(na * nb, 0.0);
    double outside = 0;
    for (const auto& [a, b] : samples) {
        int i = (int) std::floor((a - a0) / da), j = (int) std::floor((b - b0) / db);
        if (i < 0 || i >= na || j < 0 || j >= nb)
            outside++;
        else
            observed[i * nb + j]++;
    }
    double chi2 = 0, poolE = 0, poolO = outside;
    int bins = 0;
    for (int k = 0; k < na * nb; k++) {
        double e = expected[k] / total * n;
        if (e < 5) {
            poolE += e;
            poolO += observed[k];
        }
        else {
            chi2 += (observed[k] - e) * (observed[k] - e) / e;
            bins++;
        }
    }
    if (poolE > 0 || poolO > 0) {
        chi2 += (poolO - poolE) * (poolO - poolE) / std::max(poolE, 1.0);
        bins++;
    }
    *dof = bins - 1;
    return chi2;
}

} // namespace VAETest

#endif
