#include "NativeDistributions.h"
#include "DensitySpecEigen.h"
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace VAEPlugin {

double wrapAngle(double a) {
    // torch.remainder for floating types: fmod, moved to the divisor's sign
    const double b = 2.0 * M_PI;
    double r = std::fmod(a + M_PI, b);
    if (r < 0) r += b;
    return r - M_PI;
}

double i0e(double k) {
    // Own series, not std::cyl_bessel_i (which computes I and K by continued fractions, and took
    // 7 % of the samples of a move-cost profile, bench/hybrid/move_cost.py under perf). Below 30: the power series of I0, all terms positive (relative
    // error a few eps); above: the asymptotic series, a_n = ((2n-1)!!)^2 / (n! 8^n k^n), summed until
    // a term is below 1e-17 (its terms fall while n < 2k, so long before they would diverge).
    if (k <= 30.0) {
        const double q = 0.25 * k * k;
        double term = 1.0, sum = 1.0;
        for (int n = 1; term > 1e-17 * sum; n++) {
            term *= q / (static_cast<double>(n) * n);
            sum += term;
        }
        return sum * std::exp(-k);
    }
    double term = 1.0, sum = 1.0;
    for (int n = 1; term > 1e-17 * sum; n++) {
        term *= (2.0 * n - 1.0) * (2.0 * n - 1.0) / (8.0 * n * k);
        sum += term;
    }
    return sum / std::sqrt(2.0 * M_PI * k);
}

double erfinv(double y) {
    if (!(y > -1.0 && y < 1.0)) {
        if (y == 1.0) return std::numeric_limits<double>::infinity();
        if (y == -1.0) return -std::numeric_limits<double>::infinity();
        return std::numeric_limits<double>::quiet_NaN();
    }
    // Giles' single-precision approximation, refined by Newton steps on erf to double precision
    double w = -std::log((1.0 - y) * (1.0 + y)), p;
    if (w < 5.0) {
        w -= 2.5;
        p = 2.81022636e-08;
        for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                         0.246640727, 1.50140941})
            p = c + p * w;
    } else {
        w = std::sqrt(w) - 3.0;
        p = -0.000200214257;
        for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                         1.00167406, 2.83297682})
            p = c + p * w;
    }
    double x = p * y;
    for (int step = 0; step < 4; step++) {
        const double dx = (std::erf(x) - y) / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
        x -= dx;
        if (std::abs(dx) <= 1e-16 * std::abs(x)) break;
    }
    return x;
}

double gaussianLogProb(double x, double loc, double logvar) {
    const double lv = std::max(logvar, -15.0), d = x - loc;
    return -0.5 * (d * d * std::exp(-lv) + lv) - 0.5 * kLn2Pi;
}

double vonMisesMixtureLogProb(double u, const double* params, int K) {
    const double *logits = params, *c = params + K, *s = params + 2 * K, *logvar = params + 3 * K;
    double maxLogit = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < K; k++) maxLogit = std::max(maxLogit, logits[k]);
    double norm = 0;
    for (int k = 0; k < K; k++) norm += std::exp(logits[k] - maxLogit);
    const double logNorm = maxLogit + std::log(norm);
    std::vector<double> terms(K);
    double maxTerm = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < K; k++) {
        const double kappa = std::exp(-std::max(logvar[k], -15.0)), mean = std::atan2(s[k], c[k]);
        terms[k] = (K == 1 ? 0.0 : logits[k] - logNorm) + kappa * (std::cos(u - mean) - 1.0) - std::log(i0e(kappa));
        maxTerm = std::max(maxTerm, terms[k]);
    }
    if (K == 1) return terms[0] - kLn2Pi;
    double sum = 0;
    for (int k = 0; k < K; k++) sum += std::exp(terms[k] - maxTerm);
    return maxTerm + std::log(sum) - kLn2Pi;
}

double sampleGaussian(double loc, double logvar, UniformSource& u, int feature) {
    const double v = u.uniform(feature, kSlotPrimary);
    return loc + std::exp(0.5 * std::max(logvar, -15.0)) * (1.4142135623730951 * erfinv(2.0 * v - 1.0));
}

namespace {

/** Best & Fisher (1979), as Decoders.cpp's von_mises: sign from slot 0, try t from slots 3 + 2t, 4 + 2t. */
double sampleVonMises(double mean, double kappa, UniformSource& u, int feature) {
    const double k = std::max(kappa, 1e-12);
    if (!std::isfinite(k)) return std::numeric_limits<double>::quiet_NaN();
    const double q = std::sqrt(1.0 + 4.0 * k * k), tau = 1.0 + q;
    const double rho = 2.0 * k * tau / ((q + 1.0) * (tau + std::sqrt(2.0 * tau)));
    const double r = (1.0 + rho * rho) / (2.0 * rho);
    const double sign = u.uniform(feature, kSlotPrimary);
    double f = 0;
    for (int t = 0;; t++) {
        const double u1 = u.uniform(feature, kSlotFirstTry + 2 * t), u2 = u.uniform(feature, kSlotFirstTry + 2 * t + 1);
        const double zc = std::cos(M_PI * u1), ff = (1.0 + r * zc) / (r + zc), c = k * (r - ff);
        if ((c * (2.0 - c) - u2) > 0.0 || (std::log(c / u2) + 1.0 - c) >= 0.0) {
            f = ff;
            break;
        }
    }
    double theta = std::acos(std::min(std::max(f, -1.0), 1.0));
    if (!(sign > 0.5)) theta = -theta;
    return wrapAngle(mean + theta);
}

} // namespace

double sampleVonMisesMixture(const double* params, int K, UniformSource& u, int feature) {
    int j = 0;
    if (K > 1) {
        // component: first index with cumsum(softmax(logits)) > v, clamped to K - 1
        const double* logits = params;
        const double mx = *std::max_element(logits, logits + K);
        std::vector<double> w(K);
        double sum = 0;
        for (int k = 0; k < K; k++) sum += (w[k] = std::exp(logits[k] - mx));
        const double v = u.uniform(feature, kSlotComponent);
        double cum = 0;
        for (j = 0; j < K - 1; j++) {
            cum += w[j] / sum;
            if (cum > v) break;
        }
    }
    const double kappa = std::exp(-std::max(params[3 * K + j], -15.0));
    return sampleVonMises(std::atan2(params[2 * K + j], params[K + j]), kappa, u, feature);
}

double applyRotor(double u, int m, UniformSource& source, int feature) {
    if (m <= 1) return u;
    const int k = std::min((int) std::floor(m * source.uniform(feature, kSlotRotor)), m - 1);
    return wrapAngle((u + 2.0 * M_PI * k) / m);
}

} // namespace VAEPlugin
