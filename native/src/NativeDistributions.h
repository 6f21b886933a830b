#ifndef OPENMM_VAE_NATIVE_DISTRIBUTIONS_H_
#define OPENMM_VAE_NATIVE_DISTRIBUTIONS_H_

// The decoder's per-feature distributions in double precision, as trainer/model Decoders defines
// them (IndependentDist and the autoregressive mixture), with the samplers' use of the uniform slots
// (spec of issue 20 section 5). Internal to the native library.

#include "UniformSource.h"

namespace VAEPlugin {

/** Uniform slots of one feature (spec section 5). */
enum UniformSlot { kSlotPrimary = 0, kSlotComponent = 1, kSlotRotor = 2, kSlotFirstTry = 3 };

/** dist.wrap: remainder(a + pi, 2 pi) - pi, in [-pi, pi). */
double wrapAngle(double a);
/** exp(-k) I0(k), k >= 0 (torch.special.i0e). */
double i0e(double k);
/** The inverse error function (torch.erfinv) to double precision. */
double erfinv(double y);

/** ln N(x; loc, exp(max(logvar, -15))). */
double gaussianLogProb(double x, double loc, double logvar);
/**
 * ln p(u) of the von Mises mixture of K components, params [logits K, c K, s K, logvar K]
 * (K = 1: the logit is ignored): logsumexp_k [ln w_k + kappa_k (cos(u - mu_k) - 1) - ln i0e(kappa_k)] - ln 2 pi.
 */
double vonMisesMixtureLogProb(double u, const double* params, int K);

/** loc + sigma sqrt(2) erfinv(2 v - 1), v = slot 0 of the feature. */
double sampleGaussian(double loc, double logvar, UniformSource& u, int feature);
/** u ~ the von Mises mixture (component from slot 1 when K > 1; Best-Fisher with slots 0, 3, 4, ...), in [-pi, pi). */
double sampleVonMisesMixture(const double* params, int K, UniformSource& u, int feature);
/** Rotor branch of multiplicity m (slot 2 when m > 1): wrap((u + 2 pi k) / m). */
double applyRotor(double u, int m, UniformSource& source, int feature);

} // namespace VAEPlugin

#endif
