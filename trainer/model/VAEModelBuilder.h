#ifndef OPENMM_VAE_MODEL_BUILDER_H_
#define OPENMM_VAE_MODEL_BUILDER_H_

/**
 * The VAE models of science.md section 1 as TorchScript modules built in C++.
 *
 * buildVAE() returns a torch::jit::Module whose methods are TorchScript (Module::define), so the
 * same code trains (torch::optim over module.parameters(), gradients through any method) and is
 * saved in the model bundle. All methods are batch-first and take the dtype/device of their inputs:
 * they work unchanged after module.to(torch::kFloat64) or module.to(device).
 *
 * Conventions
 * - x: model-space features [B, D]; a periodic feature is an angle in radians (any branch; the
 *   densities are 2*pi-periodic in it, samples are returned in [-pi, pi)).
 * - z: latent [B, L]; eps: standard-normal latent noise [B, L].
 * - Every method that returns a log-density returns one value per sample, shape [B].
 * - Transforms (flows) have forward = generative direction (noise -> data) and inverse =
 *   normalising direction (data -> noise); both return (output, ln|det d output / d input|) [B].
 *
 * Methods of the returned module (exact TorchScript signatures):
 *   encode(x) -> Tuple[Tensor, Tensor]                 (mu, logvar), each [B, L]
 *   encoder_log_prob(z, mu, logvar) -> Tensor          ln q(z|x), diagonal Gaussian, [B]
 *   prior_forward(eps) -> Tuple[Tensor, Tensor]        z = f(eps), ln|det df/deps| [B]
 *   prior_inverse(z) -> Tuple[Tensor, Tensor]          eps = f^-1(z), ln|det df^-1/dz| [B]
 *   prior_log_prob(z) -> Tensor                        ln P(z) [B]
 *   prior_sample(eps) -> Tensor                        z = f(eps) [B, L]
 *   decoder_log_prob(x, z) -> Tensor                   ln P(x|z) [B] (autoregressive: one teacher-forced pass)
 *   decoder_sample(z, noise) -> Tensor                 x ~ P(x|z) [B, D]; noise uniform in (0, 1), [B, D] or
 *                                                      [B, D, S] (slots, see Randomness)
 *   loss(x, beta: float) -> Tuple[Tensor, Tensor, Tensor]   batch means of (total, recon, kl)
 *   prior_fit_loss(x) -> Tensor                        -mean ln P(z), z ~ q(z|x), encoder detached
 * Attributes: latent: int, num_features: int, hidden: int, flow_hidden: int, decoder_kind: str,
 *   periodic: List[bool] (size D).
 * Submodules: `encoder`, `prior`, `decoder` (the trainer fits only the prior after beta = 0 by
 *   optimising module.attr("prior").toModule().parameters()).
 * Decoder attributes (BundleSchema::Model): every decoder has `multiplicity` (long [D], rotor
 *   multiplicity m_i, 1 for non-rotor and non-periodic features). The autoregressive decoder has
 *   `num_components` (int K), `param_start` (long [D + 1]: column offset of each feature's output
 *   block) and `conditioner_index` (long [D + P]); so has every MAF block (`conditioner_index`).
 *
 * Model details (science.md section 1, with the choices science.md leaves open):
 * - Encoder input: the non-periodic features in their order, then cos of the periodic features,
 *   then sin of the periodic features (each group in feature order). Two ReLU layers of width H;
 *   linear heads `mean` and `logvar`. The encoder log-variance is not clamped.
 * - Prior: `priorBlocks` (4) RealNVP coupling blocks. With s = L / 2, block k (k = 0, 1, ...)
 *   transforms dims [s, L) conditioned on [0, s) when k is even and dims [0, s) conditioned on
 *   [s, L) when k is odd. For L = 1 every block transforms dim 0 and its conditioner input is the
 *   constant 1. Conditioner: one ReLU layer of width flowHidden -> 3K - 1 raw spline parameters per
 *   transformed dim (K widths, K heights, K - 1 interior slopes). The spline's explicit formula is
 *   applied in the normalising direction z -> eps (every training step evaluates ln P(z)); the
 *   generative direction eps -> z solves the bin's quadratic.
 * - Rational-quadratic spline (one definition, module class RQSpline, methods forward(x, raw) and
 *   inverse(y, raw), raw = [..., 3K - 1]): K bins on [-b, b] (b = 10 for the prior, pi for the flow
 *   decoder), widths/heights softmax(raw) * (2b - K*0.01) + 0.01,
 *   interior slopes softplus(raw) + 0.01, boundary slopes 1, identity outside [-b, b].
 * - Decoder output distribution (module class IndependentDist, shared by all decoders; mse, condind
 *   and the flow decoder's base use it as is): per feature a location, a log-variance and, for
 *   periodic features only, a second location component; layout [loc (D), s (P), logvar (D)].
 *   Non-periodic feature: Gaussian N(loc, exp(logvar)). Periodic feature: von Mises with mean
 *   atan2(s, c) (c = loc) and concentration kappa = exp(-max(logvar, -15)).
 *   `mse` fixes logvar = 0 (variance 1; for a periodic feature kappa = 1).
 * - Rotor multiplicity (every decoder; ModelConfig::multiplicity, all 1 by default; only periodic
 *   features may have m > 1): the density of a periodic feature x_i is that of u_i = wrap(m_i x_i)
 *   under the decoder's distribution, ln P(x_i | ...) = ln p_u(u_i | ...) (exact: p_u(m phi)
 *   integrates to 1 over phi in [-pi, pi)). Sampling draws u, then the branch k = min(floor(m v),
 *   m - 1) (v: noise slot 2) and returns x = wrap((u + 2 pi k) / m). The flow decoder applies it
 *   around the whole flow (data u = wrap(m x) enters the flow; k is drawn after the flow).
 * - Autoregressive decoder output: per-feature contiguous blocks in feature order, feature i's at
 *   columns [param_start[i], param_start[i + 1]): periodic feature 4K columns [logit_1..K, c_1..K,
 *   s_1..K, logvar_1..K], non-periodic 2 columns [loc, logvar]. Periodic conditional of u_i: the
 *   von Mises mixture sum_k w_k VM(u; atan2(s_k, c_k), exp(-max(logvar_k, -15))), w = softmax(logits),
 *   ln p = logsumexp_k[ln w_k + kappa_k (cos(u - mu_k) - 1) - ln i0e(kappa_k)] - ln 2 pi
 *   (K = ModelConfig::mixtureComponents, `openmm-vae train --mixture K`, default 1; K > 1 only for
 *   this decoder). Non-periodic conditional: Gaussian as above.
 *   **Clamp (deviation from the original, for numerical safety)**: the decoder's Gaussian
 *   log-variances are clamped from below at -15 (the same bound as the von Mises concentration),
 *   i.e. variance >= exp(-15) ~ 3e-7; below the bound the gradient with respect to logvar is zero.
 * - Decoder nets (tanh, width H): mse/condind: z -> 2 hidden -> head. autoregressive: the same
 *   base head plus a MADE (one hidden layer) on the conditioner columns of x whose output is added to
 *   the base head; z enters every masked layer's pre-activation through a bias-free linear map
 *   (`*_skip`). flow: base head
 *   from one hidden layer of z, then `decoderFlowBlocks` (2) MAF blocks on [-pi, pi], each a MADE
 *   with z skips that outputs 3K - 1 raw spline parameters per feature. Block k uses the feature
 *   order 1..D for even k and D..1 for odd k. Non-periodic features are multiplied by 2*pi/20
 *   before the flow and divided after; periodic features are wrapped into [-pi, pi).
 *   ln P(x|z) = ln p_base(u) + ln|det du/dx|; in a MAF block the density direction
 *   (x -> u) applies the spline's explicit formula and is one pass.
 * - MADE input (conditioner columns; autoregressive decoder and MAF blocks): per feature in feature
 *   order, a non-periodic feature's value (standardised feature; in a MAF block its spline-domain
 *   input), a periodic feature's cos(u_i), sin(u_i) (u_i = m_i x_i; in a MAF block its domain
 *   input): D + P columns, c = index_select(cat([x, cos(u_per), sin(u_per)], 1), 1, conditioner_index),
 *   so an angle enters continuously across +-pi and the columns of features < i are a prefix.
 * - MADE degrees: feature i has degree deg(i) = i + 1 (MAF block: in the block's order, i + 1 or
 *   D - i), and so have its conditioner columns and all its outputs; hidden unit k = 1..H gets degree
 *   min(ceil(k (D - 1) / (H + 1)), D - 1); hidden mask in-degree <= hidden degree; output mask
 *   hidden degree < output degree.
 * - Initialisation: every weight matrix Glorot-uniform (limit sqrt(6 / (fan_in + fan_out))), every
 *   bias zero, drawn from a std::mt19937_64 seeded with `seed` (deterministic across platforms).
 *   Parameters are float32; call module.to(torch::kFloat64) for double precision.
 *
 * Randomness
 * - loss() and prior_fit_loss() draw the reparameterisation noise with torch.randn inside
 *   TorchScript: it comes from LibTorch's default CPU generator, set with torch::manual_seed.
 * - decoder_sample(z, noise): `noise` [B, D] or [B, D, S] gives each feature i uniform "slots"
 *   in (0, 1): slot 0: Gaussian inverse CDF x = loc + sigma * sqrt(2) * erfinv(2u - 1) (non-periodic)
 *   or the sign of the von Mises deviation from the mean (u > 0.5: positive); slot 1: mixture
 *   component (first k with cumsum(w)_k > v, at most K - 1; only K > 1, autoregressive); slot 2:
 *   rotor branch (only m_i > 1); slots 3 + 2t, 4 + 2t: the uniforms (u1, u2) of the t-th try of the
 *   Best-Fisher (1979) rejection sampler of the von Mises distribution (exact, computed in float64).
 *   A slot the tensor lacks ([B, D] noise: every slot >= 1) is drawn with torch.rand (LibTorch's
 *   default generator, torch::manual_seed). Sampling is exact; with enough try slots it is a
 *   function of `noise` alone (the native sampler consumes the same slots: identical samples).
 * - autoregressive decoder_sample is sequential over features: the hidden units of degree i are
 *   computed once, when the features < i are drawn (O(D H + H nOut) per row); the flow decoder
 *   samples the base in one pass and inverts each MAF block by D passes.
 */

#include "ModelConfig.h"

#include <cstdint>
#include <torch/script.h>

namespace VAEPlugin {

/**
 * Build a freshly initialised VAE for `config` (science.md section 1).
 * @throws std::invalid_argument if the configuration is invalid (unknown decoder kind, D < 1,
 *         L < 1, widths < 1, periodic flags of the wrong size, ...), naming the offending value.
 */
torch::jit::Module buildVAE(const ModelConfig& config, uint64_t seed);

} // namespace VAEPlugin

#endif
