#ifndef OPENMM_VAE_MODEL_PARTS_H_
#define OPENMM_VAE_MODEL_PARTS_H_

// Building blocks of the VAE modules (internal to the trainer; used by VAEModelBuilder.cpp and by
// the tests). Every block is a torch::jit::Module whose methods are TorchScript source defined once
// here and compiled into one shared CompilationUnit (class names are mangled to stay unique).

#include "ModelConfig.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>
#include <torch/script.h>

namespace VAEPlugin {
namespace model_detail {

/** Deterministic Glorot-uniform initialiser (bit-identical for a seed on every platform). */
class ParamInit {
public:
    explicit ParamInit(uint64_t seed) : rng_(seed) {}
    /** Uniform double in [0, 1) from 53 random bits. */
    double uniform() { return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0); }
    /** [fanOut, fanIn] float32 matrix, U(-a, a), a = sqrt(6 / (fanIn + fanOut)). */
    torch::Tensor glorot(int64_t fanOut, int64_t fanIn);
private:
    std::mt19937_64 rng_;
};

/** Shared state while building one model: the compilation unit and the initialiser. */
struct Builder {
    explicit Builder(uint64_t seed) : cu(std::make_shared<torch::jit::CompilationUnit>()), init(seed) {}
    std::shared_ptr<torch::jit::CompilationUnit> cu;
    ParamInit init;
    /** A new empty module of class __torch__.vae.<className> (mangled if the name is taken). */
    torch::jit::Module newModule(const std::string& className);
};

/** A TorchScript float literal with full precision. */
std::string lit(double v);

/** Register parameters `<prefix>_weight` [out, in] (Glorot) and, if bias, `<prefix>_bias` [out] (zero). */
void addLinear(torch::jit::Module& m, const std::string& prefix, int64_t in, int64_t out, ParamInit& init,
               bool bias = true);
void addParameter(torch::jit::Module& m, const std::string& name, const torch::Tensor& value);
void addIntAttr(torch::jit::Module& m, const std::string& name, int64_t v);
void addFloatAttr(torch::jit::Module& m, const std::string& name, double v);
void addBoolAttr(torch::jit::Module& m, const std::string& name, bool v);
/** A long index tensor kept as a plain attribute (not a buffer, so module.to(dtype) leaves it alone). */
void addIndexAttr(torch::jit::Module& m, const std::string& name, const std::vector<int64_t>& idx);

/** Replace every occurrence of `from` in s. */
void replaceAll(std::string& s, const std::string& from, const std::string& to);

/** MADE hidden degrees min(ceil(k (D - 1) / (H + 1)), D - 1), k = 1..H. */
std::vector<int64_t> madeHiddenDegrees(int64_t numFeatures, int64_t hidden);
/** Mask [out, in]: 1 where inDeg <= outDeg (strict = false) or inDeg < outDeg (strict = true). */
torch::Tensor madeMask(const std::vector<int64_t>& inDeg, const std::vector<int64_t>& outDeg, bool strict);

/**
 * Source column of each conditioner column of a masked network (spec: interleaved in feature order):
 * non-periodic feature i -> i (its value); the k-th periodic feature -> D + k (cos) and D + P + k (sin)
 * of cat([x, cos(u_per), sin(u_per)], 1). Size D + P; the columns of features < i are a prefix.
 */
std::vector<int64_t> conditionerIndex(const std::vector<bool>& periodic);
/**
 * Register a MADE with z skips on module m (one tanh hidden layer of width `hidden`): parameters
 * made_hidden [H, D + P], made_hidden_skip, made_out [outDeg.size(), H], made_out_skip, their masks,
 * and the attributes num_periodic, periodic_index, conditioner_index. featureDeg[i] is feature i's
 * degree (its conditioner columns get it); outDeg the degree of each output.
 * Defines nothing: the module's source must include kMADESource.
 */
void addMADE(Builder& b, torch::jit::Module& m, const std::vector<bool>& periodic, const std::vector<int64_t>& featureDeg,
             int64_t latent, int64_t hidden, const std::vector<int64_t>& outDeg);
/** TorchScript of a module built with addMADE: conditioner(x, up) and made_out(c, z). */
extern const char* const kMADESource;

/** Periodic flag of each feature (size D). */
std::vector<bool> periodicFlags(const ModelConfig& config);
/** Rotor multiplicity of each feature (size D; all 1 when config.multiplicity is empty). */
std::vector<int64_t> multiplicities(const ModelConfig& config);

/** Rational-quadratic spline module (class RQSpline): forward(x, raw), inverse(y, raw); raw [..., 3K - 1]. */
torch::jit::Module buildSpline(Builder& b, int64_t bins, double bound, double minBin = 0.01,
                               double minSlope = 0.01);
/** One RealNVP coupling block of the prior (class Coupling). */
torch::jit::Module buildCoupling(Builder& b, int64_t latent, int64_t hidden, int64_t bins, bool even);
/**
 * One masked autoregressive spline block conditioned on z (class MAFBlock); reversed: order D..1.
 * Its MADE sees the (cos, sin) of the periodic features' domain values (spec section 1).
 */
torch::jit::Module buildMAFBlock(Builder& b, const std::vector<bool>& periodic, int64_t latent, int64_t hidden,
                                 int64_t bins, bool reversed);
/**
 * Compose transforms t_0, ..., t_{n-1} (submodules block0...): forward applies t_0 first, inverse
 * the inverses in reverse order; log-determinants add. With context, every call passes ctx.
 * Without context, adds log_prob(z) (standard-normal base) and sample(eps).
 */
torch::jit::Module composeFlow(Builder& b, const std::string& className, const std::vector<torch::jit::Module>& blocks,
                               bool context, int64_t dim);
/** The prior: composeFlow of the coupling blocks (forward, inverse, log_prob, sample). */
torch::jit::Module buildPrior(Builder& b, const ModelConfig& config);
/** Gaussian encoder (class Encoder): forward(x) -> (mu, logvar). */
torch::jit::Module buildEncoder(Builder& b, const ModelConfig& config);
/** Independent Gaussian / von Mises distribution (class IndependentDist). */
torch::jit::Module buildDist(Builder& b, const ModelConfig& config);
/** A decoder of config.decoder kind: log_prob(x, z), sample(z, noise). */
torch::jit::Module buildDecoder(Builder& b, const ModelConfig& config);

/** Indices of the periodic and the non-periodic features. */
void splitPeriodic(const ModelConfig& config, std::vector<int64_t>& periodic, std::vector<int64_t>& nonPeriodic);

} // namespace model_detail
} // namespace VAEPlugin

#endif
