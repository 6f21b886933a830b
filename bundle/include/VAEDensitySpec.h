#ifndef OPENMM_VAE_DENSITY_SPEC_H_
#define OPENMM_VAE_DENSITY_SPEC_H_

#include <torch/script.h>
#include <cstdint>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * What a native implementation needs to evaluate a bundle's prior and decoder densities (the
 * state-side terms of a VAE move): the RealNVP rational-quadratic-spline prior and a decoder of the
 * base-network kind (mse, condind, autoregressive), as plain arrays read from the bundle's
 * parameters (BundleSchema::Model). The flow decoder has no such description.
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
    };
    /** A coupling block of the prior: a ReLU network of the constant half gives the spline parameters of the other. */
    struct Coupling {
        Matrix hiddenWeight, outWeight;
        std::vector<double> hiddenBias, outBias;
        bool constantInput = false, transformSecond = false;
        int split = 0, numTransformed = 0;
        Spline spline;
    };
    int latent = 0, numFeatures = 0, numPeriodic = 0;
    std::vector<Coupling> prior;                   ///< applied in this order in the sampling direction
    /** Decoder base network of z (tanh, tanh), output [loc (D), s (P), logvar (D) unless fixedVariance]. */
    Matrix hidden1Weight, hidden2Weight, outWeight;
    std::vector<double> hidden1Bias, hidden2Bias, outBias;
    bool fixedVariance = false;
    /** Autoregressive decoders: the MADE weights (masks applied) added to the base network's output. */
    bool autoregressive = false;
    Matrix madeHiddenWeight, madeHiddenSkipWeight, madeOutWeight, madeOutSkipWeight;
    std::vector<double> madeHiddenBias, madeOutBias;
    std::vector<int64_t> periodicIndex;            ///< the periodic features
    std::vector<double> featureMean, featureScale; ///< standardisation of the features

    /** Reads the description from a bundle module; false (and why in whyNot) when it has none. */
    static bool fromModule(const torch::jit::Module& bundle, VAEDensitySpec& spec, std::string& whyNot);
};

} // namespace VAEPlugin

#endif
