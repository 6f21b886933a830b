#ifndef OPENMM_VAE_NATIVE_RQ_SPLINE_H_
#define OPENMM_VAE_NATIVE_RQ_SPLINE_H_

#include "VAEDensitySpec.h"

namespace VAEPlugin {

/**
 * The rational-quadratic spline of trainer/model Flows (class RQSpline), one element at a time in
 * double precision: K bins on [-bound, bound], widths and heights softmax(raw) * span + minBin,
 * interior slopes softplus(raw) + minSlope. Ordinary: boundary slopes 1, identity outside
 * [-bound, bound]; raw = [K widths, K heights, K - 1 slopes]. Circular (periodic features of the
 * flow decoder, bound pi): both boundary slopes softplus(raw_end) + minSlope and a rotation r;
 * raw = [..., raw_end, r]; y = S(wrap(x - r)) (spec of issue 20 section 4).
 */
struct NativeRQSpline {
    int bins = 0;
    double bound = 0, minBin = 0, minSlope = 0, span = 0;
    bool circular = false;
    /** The spline a bundle describes (ordinary; set circular for the periodic variant). */
    static NativeRQSpline of(const VAEDensitySpec::Spline& s) {
        NativeRQSpline r;
        r.bins = s.bins;
        r.bound = s.bound;
        r.minBin = s.minBin;
        r.minSlope = s.minSlope;
        r.span = s.span;
        return r;
    }
    /** Raw values per element: 3K - 1, + 2 when circular. */
    int rawCount() const { return 3 * bins - 1 + (circular ? 2 : 0); }
    /** y and ln|dy/dx| of x (the explicit formula, RQSpline.forward). */
    void forward(double x, const double* raw, double& y, double& logd) const;
    /** x of y (the bin's quadratic solved, RQSpline.inverse); logd, if given: ln|dy/dx| at that x (as forward's). */
    double inverse(double y, const double* raw, double* logd = nullptr) const;
};

} // namespace VAEPlugin

#endif
