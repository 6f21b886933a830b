#include "NativePriorFlow.h"
#include "DensitySpecEigen.h"
#include <algorithm>
#include <cmath>

using namespace VAEPlugin;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {


double softplus(double x) { return x > 20.0 ? x : std::log1p(std::exp(x)); }

} // namespace

NativePriorFlow::NativePriorFlow(const VAEDensitySpec& spec) : latent(spec.latent) {
    for (const VAEDensitySpec::Coupling& b : spec.prior) {
        const VAEDensitySpec::Spline& s = b.spline;
        blocks.push_back(Coupling{toEigen(b.hiddenWeight), toEigen(b.outWeight), toEigen(b.hiddenBias), toEigen(b.outBias),
                                  b.constantInput, b.transformSecond, b.split, b.numTransformed,
                                  Spline{s.bins, s.bound, s.minBin, s.minSlope, s.span}});
    }
}

void NativePriorFlow::Spline::forward(double x, const double* raw, double& y, double& logd) const {
    const int K = bins;
    if (!(x >= -bound && x <= bound)) {  // identity outside (and NaN passes through)
        y = x;
        logd = 0;
        return;
    }
    std::vector<double> w(K), h(K), kx(K + 1), ky(K + 1), d(K + 1);
    auto softmax = [&](const double* r, std::vector<double>& out) {
        const double mx = *std::max_element(r, r + K);
        double s = 0;
        for (int i = 0; i < K; i++) s += (out[i] = std::exp(r[i] - mx));
        for (int i = 0; i < K; i++) out[i] = out[i] / s * span + minBin;
    };
    softmax(raw, w);
    softmax(raw + K, h);
    kx[0] = ky[0] = -bound;
    for (int i = 0; i < K; i++) {
        kx[i + 1] = kx[i] + w[i];
        ky[i + 1] = ky[i] + h[i];
    }
    d[0] = d[K] = 1.0;
    for (int i = 1; i < K; i++) d[i] = softplus(raw[2 * K + i - 1]) + minSlope;
    // bin: the number of interior knots <= x (searchsorted, right)
    const int idx = std::upper_bound(kx.begin() + 1, kx.begin() + K, x) - (kx.begin() + 1);
    const double wk = w[idx], hk = h[idx], d0 = d[idx], d1 = d[idx + 1];
    const double s = hk / wk, c2 = (d1 + d0) - (s + s);
    const double xi = (x - kx[idx]) / wk, omx = 1.0 - xi, t = xi * omx;
    const double den = s + c2 * t;
    y = ky[idx] + hk * (d0 * t + s * xi * xi) / den;
    const double num = d1 * xi * xi + 2.0 * s * t + d0 * omx * omx, r = s / den;
    logd = std::log(num * r * r);
}

double NativePriorFlow::Coupling::inverse(Eigen::VectorXd& x) const {
    const int L = x.size(), nc = constantInput ? 0 : L - numTransformed;
    const int c0 = transformSecond ? 0 : split, t0 = constantInput ? 0 : (transformSecond ? split : 0);
    VectorXd c = constantInput ? VectorXd::Ones(1) : VectorXd(x.segment(c0, nc));
    VectorXd p = w2 * (w1 * c + b1).cwiseMax(0.0) + b2;
    const int np = 3 * spline.bins - 1;
    double ld = 0;
    for (int j = 0; j < numTransformed; j++) {
        double y, l;
        spline.forward(x[t0 + j], p.data() + j * np, y, l);
        x[t0 + j] = y;
        ld += l;
    }
    return ld;
}

double NativePriorFlow::logProb(const double* zp) const {
    VectorXd e = Eigen::Map<const VectorXd>(zp, latent);
    double ld = 0;
    for (int k = (int) blocks.size(); k-- > 0;) ld += blocks[k].inverse(e);
    return -0.5 * e.squaredNorm() - 0.5 * latent * kLn2Pi + ld;
}
