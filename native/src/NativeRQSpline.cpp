#include "NativeRQSpline.h"
#include "NativeDistributions.h"
#include <algorithm>
#include <cmath>
#include <vector>

using namespace VAEPlugin;

namespace {

double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

/**
 * Knots and slopes of one spline, as RQSpline.transform builds them. On the stack up to 64 bins (a
 * spline is evaluated per element and per move: building five heap vectors each time took 2 % of
 * the samples of a move-cost profile, their allocation more), on the heap beyond.
 */
struct Knots {
    static constexpr int kStackBins = 64;
    double stack[5 * (kStackBins + 1)];
    std::vector<double> heap;
    double *w, *h, *kx, *ky, *d;
    const int K;
    Knots(const NativeRQSpline& s, const double* raw) : K(s.bins) {
        double* base = stack;
        if (K > kStackBins) {
            heap.resize(5 * (K + 1));
            base = heap.data();
        }
        w = base;
        h = w + (K + 1);
        kx = h + (K + 1);
        ky = kx + (K + 1);
        d = ky + (K + 1);
        auto softmax = [&](const double* r, double* out) {
            const double mx = *std::max_element(r, r + K);
            double sum = 0;
            for (int i = 0; i < K; i++) sum += (out[i] = std::exp(r[i] - mx));
            for (int i = 0; i < K; i++) out[i] = out[i] / sum * s.span + s.minBin;
        };
        softmax(raw, w);
        softmax(raw + K, h);
        kx[0] = ky[0] = -s.bound;
        for (int i = 0; i < K; i++) {
            kx[i + 1] = kx[i] + w[i];
            ky[i + 1] = ky[i] + h[i];
        }
        d[0] = d[K] = s.circular ? softplus(raw[3 * K - 1]) + s.minSlope : 1.0;
        for (int i = 1; i < K; i++) d[i] = softplus(raw[2 * K + i - 1]) + s.minSlope;
    }
    Knots(const Knots&) = delete;
    /** The bin of v among knots k[0..K]: the number of interior knots <= v (searchsorted, right). */
    int bin(const double* k, double v) const { return std::upper_bound(k + 1, k + K, v) - (k + 1); }
    /** ln dy/dx inside bin idx at the fraction xi of its width (RQSpline's derivative). */
    double logDerivative(int idx, double xi) const {
        const double s = h[idx] / w[idx], d0 = d[idx], d1 = d[idx + 1], c2 = (d1 + d0) - (s + s);
        const double omx = 1.0 - xi, t = xi * omx, den = s + c2 * t;
        const double num = d1 * xi * xi + 2.0 * s * t + d0 * omx * omx, r = s / den;
        return std::log(num * r * r);
    }
};

} // namespace

void NativeRQSpline::forward(double x, const double* raw, double& y, double& logd) const {
    if (circular)
        x = wrapAngle(x - raw[3 * bins]);
    else if (!(x >= -bound && x <= bound)) {  // identity outside (and NaN passes through)
        y = x;
        logd = 0;
        return;
    }
    const Knots k(*this, raw);
    const int idx = k.bin(k.kx, x);
    const double wk = k.w[idx], hk = k.h[idx], d0 = k.d[idx], d1 = k.d[idx + 1];
    const double s = hk / wk, c2 = (d1 + d0) - (s + s);
    const double xi = (x - k.kx[idx]) / wk, omx = 1.0 - xi, t = xi * omx;
    const double den = s + c2 * t;
    y = k.ky[idx] + hk * (d0 * t + s * xi * xi) / den;
    logd = k.logDerivative(idx, xi);
}

double NativeRQSpline::inverse(double y, const double* raw, double* logd) const {
    if (!circular && !(y >= -bound && y <= bound)) {
        if (logd) *logd = 0;
        return y;
    }
    const Knots k(*this, raw);
    const double yc = std::min(std::max(y, -bound), bound);
    const int idx = k.bin(k.ky, yc);
    const double wk = k.w[idx], hk = k.h[idx], d0 = k.d[idx], d1 = k.d[idx + 1];
    const double s = hk / wk, c2 = (d1 + d0) - (s + s);
    const double dy = yc - k.ky[idx];
    const double qa = hk * (s - d0) + dy * c2, qb = hk * d0 - dy * c2, qc = s * dy;
    const double xi = (qc + qc) / (qb + std::sqrt(std::max(qb * qb + 4.0 * qa * qc, 0.0)));
    const double x = k.kx[idx] + xi * wk;
    if (logd) *logd = k.logDerivative(idx, xi);
    return circular ? wrapAngle(x + raw[3 * bins]) : x;
}
