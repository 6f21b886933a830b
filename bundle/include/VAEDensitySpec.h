#ifndef OPENMM_VAE_DENSITY_SPEC_H_
#define OPENMM_VAE_DENSITY_SPEC_H_

#include "BundleSchema.h"
#include "NativeModuleTree.h"
#include <cstdint>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * What a native implementation needs to evaluate and sample a bundle's prior and decoder (the
 * terms of a VAE move): the RealNVP rational-quadratic-spline prior and the decoder (mse, condind,
 * autoregressive of the mixture layout, flow with circular splines; rotor multiplicity), as plain
 * arrays read from the bundle's parameters (BundleSchema::Model). Legacy autoregressive decoders
 * (no num_components) and legacy flow decoders (MAF blocks without conditioner_index) have none.
 */
struct VAEDensitySpec {
    /** A row-major matrix. */
    struct Matrix {
        int rows = 0, cols = 0;
        std::vector<double> values;
    };
    /** The rational-quadratic spline of a coupling (trainer/model Flows). */
    struct Spline {
        int bins = 0;
        double bound = 0, minBin = 0, minSlope = 0, span = 0;
        bool circular = false;  ///< the circular variant (periodic features of the flow decoder)
    };
    /** A coupling block of the prior: a ReLU network of the constant half gives the spline parameters of the other. */
    struct Coupling {
        Matrix hiddenWeight, outWeight;
        std::vector<double> hiddenBias, outBias;
        bool constantInput = false, transformSecond = false;
        int split = 0, numTransformed = 0;
        Spline spline;
    };
    /** A masked autoregressive spline block of the flow decoder (masks applied). */
    struct MAFBlock {
        Matrix hiddenWeight, hiddenSkipWeight, outWeight, outSkipWeight;
        std::vector<double> hiddenBias, outBias;
        std::vector<int64_t> conditionerIndex;     ///< [D + P], spec section 1
        bool reversed = false;
        int rawPerFeature = 0;                     ///< raw spline values per feature in the output (3K + 1)
        Spline spline;                             ///< bins and bounds; circular: periodic features use the circular variant
    };
    int latent = 0, numFeatures = 0, numPeriodic = 0;
    std::vector<Coupling> prior;                   ///< applied in this order in the sampling direction
    DecoderKind decoderKind = DecoderKind::Mse;
    /**
     * Decoder base network of z (tanh layers; hidden2 empty (rows 0) for the flow decoder's one layer).
     * Output: mse, condind, flow [loc (D), s (P), logvar (D) unless fixedVariance]; autoregressive:
     * per-feature blocks at paramStart (periodic 4K [logits, c, s, logvar], non-periodic [loc, logvar]).
     */
    Matrix hidden1Weight, hidden2Weight, outWeight;
    std::vector<double> hidden1Bias, hidden2Bias, outBias;
    bool fixedVariance = false;
    /** Rotor multiplicity per feature (all 1 when the decoder has no attribute). */
    std::vector<int64_t> multiplicity;
    /** Autoregressive decoders: the MADE weights (masks applied) added to the base network's output. */
    bool autoregressive = false;
    Matrix madeHiddenWeight, madeHiddenSkipWeight, madeOutWeight, madeOutSkipWeight;
    std::vector<double> madeHiddenBias, madeOutBias;
    int numComponents = 1;                         ///< K
    std::vector<int64_t> paramStart;               ///< [D + 1]
    std::vector<int64_t> hiddenGroupStart;         ///< [D + 1]: MADE hidden units of degree i are [start[i], start[i + 1])
    std::vector<int64_t> conditionerIndex;         ///< [D + P], spec section 1
    /** Flow decoders: the MAF blocks (block0 first in the generative direction) and the domain scale [D]. */
    std::vector<MAFBlock> decoderFlow;
    std::vector<double> domainScale;
    std::vector<int64_t> periodicIndex;            ///< the periodic features
    std::vector<double> featureMean, featureScale; ///< standardisation of the features

    /** Reads the description from a bundle's module tree; false (and why in whyNot) when it has none. */
    static bool fromTree(const NativeModuleTree& bundle, VAEDensitySpec& spec, std::string& whyNot);
#ifdef OPENMMVAE_WITH_TORCH
    /** fromTree of the module's tree. */
    static bool fromModule(const torch::jit::Module& bundle, VAEDensitySpec& spec, std::string& whyNot);
#endif
};

} // namespace VAEPlugin

#endif
