#include "NativePriorFlow.h"
#include "DensitySpecEigen.h"
#include <cmath>

using namespace VAEPlugin;
using Eigen::MatrixXd;
using Eigen::VectorXd;

NativePriorFlow::NativePriorFlow(const VAEDensitySpec& spec) : latent(spec.latent) {
    for (const VAEDensitySpec::Coupling& b : spec.prior) {
        const NativeRQSpline spline = NativeRQSpline::of(b.spline);
        blocks.push_back(Coupling{toEigen(b.hiddenWeight), toEigen(b.outWeight), toEigen(b.hiddenBias), toEigen(b.outBias),
                                  b.constantInput, b.transformSecond, b.split, b.numTransformed, spline});
    }
}

Eigen::VectorXd NativePriorFlow::Coupling::conditioner(const Eigen::VectorXd& x) const {
    const int nc = constantInput ? 0 : (int) x.size() - numTransformed, c0 = transformSecond ? 0 : split;
    VectorXd c = constantInput ? VectorXd::Ones(1) : VectorXd(x.segment(c0, nc));
    return w2 * (w1 * c + b1).cwiseMax(0.0) + b2;
}

double NativePriorFlow::Coupling::inverse(Eigen::VectorXd& x) const {
    const int t0 = constantInput ? 0 : (transformSecond ? split : 0), np = spline.rawCount();
    const VectorXd p = conditioner(x);
    double ld = 0;
    for (int j = 0; j < numTransformed; j++) {
        double y, l;
        spline.forward(x[t0 + j], p.data() + j * np, y, l);
        x[t0 + j] = y;
        ld += l;
    }
    return ld;
}

double NativePriorFlow::Coupling::forward(Eigen::VectorXd& x) const {
    const int t0 = constantInput ? 0 : (transformSecond ? split : 0), np = spline.rawCount();
    const VectorXd p = conditioner(x);  // of the constant half, which forward leaves unchanged
    double ld = 0;
    for (int j = 0; j < numTransformed; j++) {
        double l;
        x[t0 + j] = spline.inverse(x[t0 + j], p.data() + j * np, &l);
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

double NativePriorFlow::sample(const double* eps, double* z) const {
    VectorXd x = Eigen::Map<const VectorXd>(eps, latent);
    const double logNormal = -0.5 * x.squaredNorm() - 0.5 * latent * kLn2Pi;
    double ld = 0;
    for (const Coupling& b : blocks) ld += b.forward(x);
    Eigen::Map<VectorXd>(z, latent) = x;
    return logNormal + ld;
}
