#ifndef OPENMM_VAE_NATIVE_DECODER_H_
#define OPENMM_VAE_NATIVE_DECODER_H_

#include "NativeRQSpline.h"
#include "UniformSource.h"
#include "VAEDensitySpec.h"
#include <Eigen/Dense>
#include <utility>
#include <vector>

namespace VAEPlugin {

/**
 * A bundle's decoder P(x|z) in native code (double precision): ln P(x|z) as the bundle's
 * decoder_log_prob and sampling as its decoder_sample, of the raw (unstandardised) features, for
 * the mse, condind, autoregressive (mixture layout: per-feature output blocks, (cos, sin)
 * conditioner columns) and flow (MAF blocks with circular splines) decoders, rotor multiplicity
 * included (trainer/model Decoders, Flows; spec of issue 20 sections 1-5).
 *
 * Samplers consume a UniformSource by (feature, slot) exactly as decoder_sample reads its noise
 * tensor [B, D, S], so identical noise gives identical samples. The autoregressive decoder also
 * gives the conditional terms of a partial move (features [first, D) redrawn given [0, first)).
 */
class NativeDecoder {
public:
    explicit NativeDecoder(const VAEDensitySpec& spec);
    /** Out of line: Eigen buffers are freed by the library that allocated them. */
    ~NativeDecoder();
    NativeDecoder(const NativeDecoder&) = delete;
    NativeDecoder& operator=(const NativeDecoder&) = delete;
    int numFeatures() const { return D; }
    int latentSize() const { return L; }
    /** Whether the conditional terms (logProbFrom, sampleFrom) exist: the autoregressive decoder. */
    bool autoregressive() const { return kind == DecoderKind::Autoregressive; }
    /** The first periodic feature (D when none): for a bat bundle, the first torsion. */
    int firstPeriodicFeature() const { return firstPeriodic; }

    /** One configuration, ready for logProb at many z: what depends on x alone. */
    struct Prepared {
        std::vector<double> x;       ///< standardised features [D]
        std::vector<double> hidden;  ///< autoregressive: the MADE hidden pre-activation of x's conditioner columns (+ bias)
    };
    /** x: D unstandardised features. */
    Prepared prepare(const double* x) const;
    /** ln P(x|z) (z: L values), as decoder_log_prob. */
    double logProb(const Prepared& x, const double* z) const;
    /** sum over i >= first of ln P(x_i | x_<i, z) (raw features); autoregressive only (std::logic_error otherwise). */
    double logProbFrom(const Prepared& x, const double* z, int first) const;
    /**
     * x (D unstandardised values) ~ P(x|z); returns ln P(x|z) of the drawn x (as logProb would give it:
     * the autoregressive, condind and mse samplers add up the densities they drew from, which saves a
     * move the density pass of its proposal).
     */
    double sample(const double* z, UniformSource& u, double* x) const;
    /**
     * The decoder's half of a move, the base network run once for both latents: returns
     * {ln P(x|z) of the state, ln P(x'|z') of a draw x' ~ P(.|z')}, both of the features from `first`
     * on (given those before, which xp must hold; first > 0: autoregressive only). The same numbers
     * as logProbFrom(x, z, first) and sampleFrom(zp, first, u, xp), or logProb and sample at first = 0.
     */
    std::pair<double, double> moveTerms(const Prepared& x, const double* z, const double* zp, int first, UniformSource& u,
                                        double* xp) const;
    /**
     * Keeps x[0, first) (given, unstandardised) and draws x[first, D) ~ P(. | x_<first, z) feature by
     * feature; autoregressive only (std::logic_error otherwise). sampleFrom(z, 0, u, x) = sample.
     * Returns the sum over i >= first of ln P(x_i | x_<i, z) of the drawn values, as logProbFrom.
     */
    double sampleFrom(const double* z, int first, UniformSource& u, double* x) const;

private:
    /** A MAF block of the flow decoder (masks applied), in the spline domain. */
    struct MAFBlock;
    /** The base network's output head of z (all kinds). */
    Eigen::VectorXd baseOut(const double* z) const;
    /** The heads of two latents in one pass over the weights. */
    void baseOut2(const double* z0, const double* z1, Eigen::VectorXd& out0, Eigen::VectorXd& out1) const;
    /** ln P of features [first, D) given the rest, z and its head (autoregressive). */
    double autoregressiveLogProb(const Prepared& x, const double* z, int first, const Eigen::VectorXd& head) const;
    /** ln P(x|z) from z's head (mse, condind). */
    double independentLogProb(const Prepared& x, const Eigen::VectorXd& head) const;
    /** x ~ P(x|z) from z's head (mse, condind); returns its ln P. */
    double independentSample(const Eigen::VectorXd& head, UniformSource& u, double* x) const;
    /** Parameters of feature i from a head of layout [loc (D), s (P), logvar (D)]: periodic [0, c, s, logvar], else [loc, logvar]. */
    void gatherBase(const Eigen::VectorXd& out, int i, double* params) const;
    /** ln p of feature i at u (periodic: the rotor angle m x, or the flow's base angle) with its parameters. */
    double featureLogProb(int i, double u, const double* params) const;
    /** u of feature i drawn from its parameters (no rotor branch). */
    double drawFeature(int i, const double* params, UniformSource& u) const;
    /** Conditioner columns of feature i with standardised value xi: writes 1 or 2 values, returns the count. */
    int conditionerColumns(int i, double xi, double* c) const;
    double flowLogProb(const double* x, const double* z) const;
    void flowSample(const double* z, UniformSource& u, double* x) const;
    /** The block's density direction (data -> noise) of y in place; returns ln|det|. */
    double mafInverse(const MAFBlock& b, Eigen::VectorXd& y, const double* z) const;
    /** The block's generative direction (noise -> data) of y in place, feature by feature in its order. */
    void mafForward(const MAFBlock& b, Eigen::VectorXd& y, const double* z) const;
    /** Returns sum over i >= first of ln P(x_i | x_<i, z) of the drawn (raw) features; head: z's base head. */
    double autoregressiveSample(const double* z, int first, UniformSource& u, double* x, const Eigen::VectorXd& head) const;

    /** Conditioner columns in feature order (conditionerStart), as the autoregressive decoder's. */
    struct MAFBlock {
        Eigen::MatrixXd hidden, hiddenSkip, out, outSkip;
        Eigen::VectorXd hiddenBias, outBias;
        bool reversed;
        NativeRQSpline spline, circularSpline;  ///< non-periodic and periodic features
        int rawPerFeature;
    };
    DecoderKind kind;
    int L, D, P, K, firstPeriodic;
    Eigen::MatrixXd w1, w2, wOut;
    Eigen::VectorXd b1, b2, bOut;
    bool fixedVariance;
    std::vector<char> isPeriodic;
    std::vector<int> multiplicity, periodicRank;  ///< periodicRank: k of the k-th periodic feature, -1 otherwise
    // autoregressive
    Eigen::MatrixXd madeHidden, madeHiddenSkip, madeOutSkip;
    /** Row-major: every use takes the rows of one feature or of the features from `first` on. */
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> madeOut;
    Eigen::VectorXd madeHiddenBias, madeOutBias;
    std::vector<int> paramStart, conditionerStart, hiddenGroupStart;  ///< per feature: output block, first conditioner column ([D + 1] each)
    // flow
    std::vector<MAFBlock> flow;
    std::vector<double> domainScale;
    Eigen::VectorXd featureMean, featureScale, logFeatureScale;
    double logScaleSum;
};

} // namespace VAEPlugin

#endif
