#include "NativeRQSpline.h"
#include "NativeDistributions.h"
#include <algorithm>
#include <cmath>
#include <vector>

using namespace VAEPlugin;

namespace {

double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

/** Knots and slopes of one spline, as RQSpline.transform builds them. */
struct Knots {
    std::vector<double> w, h, kx, ky, d;
    Knots(const NativeRQSpline& s, const double* raw) : w(s.bins), h(s.bins), kx(s.bins + 1), ky(s.bins + 1), d(s.bins + 1) {
        const int K = s.bins;
        auto softmax = [&](const double* r, std::vector<double>& out) {
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
    /** The bin of v: the number of interior knots <= v (searchsorted, right). */
    static int bin(const std::vector<double>& k, double v) {
        return std::upper_bound(k.begin() + 1, k.end() - 1, v) - (k.begin() + 1);
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
    const int idx = Knots::bin(k.kx, x);
    const double wk = k.w[idx], hk = k.h[idx], d0 = k.d[idx], d1 = k.d[idx + 1];
    const double s = hk / wk, c2 = (d1 + d0) - (s + s);
    const double xi = (x - k.kx[idx]) / wk, omx = 1.0 - xi, t = xi * omx;
    const double den = s + c2 * t;
    y = k.ky[idx] + hk * (d0 * t + s * xi * xi) / den;
    const double num = d1 * xi * xi + 2.0 * s * t + d0 * omx * omx, r = s / den;
    logd = std::log(num * r * r);
}

double NativeRQSpline::inverse(double y, const double* raw) const {
    if (!circular && !(y >= -bound && y <= bound))
        return y;
    const Knots k(*this, raw);
    const double yc = std::min(std::max(y, -bound), bound);
    const int idx = Knots::bin(k.ky, yc);
    const double wk = k.w[idx], hk = k.h[idx], d0 = k.d[idx], d1 = k.d[idx + 1];
    const double s = hk / wk, c2 = (d1 + d0) - (s + s);
    const double dy = yc - k.ky[idx];
    const double qa = hk * (s - d0) + dy * c2, qb = hk * d0 - dy * c2, qc = s * dy;
    const double xi = (qc + qc) / (qb + std::sqrt(std::max(qb * qb + 4.0 * qa * qc, 0.0)));
    const double x = k.kx[idx] + xi * wk;
    return circular ? wrapAngle(x + raw[3 * bins]) : x;
}
