#ifndef OPENMM_VAE_MODEL_CONFIG_H_
#define OPENMM_VAE_MODEL_CONFIG_H_

#include "BundleSchema.h"

#include <vector>

namespace VAEPlugin {

/** Architecture of a VAE (science.md section 1). Features are the model-space features. */
struct ModelConfig {
    int numFeatures = 2;              ///< D: number of features (a periodic feature counts once)
    std::vector<bool> periodic;       ///< size D (empty: none periodic); periodic features enter the encoder as (cos, sin)
    int latent = 1;                   ///< L
    int hidden = 50;                  ///< H: encoder and decoder width (50 for 2-D systems, 300 for molecules)
    int flowHidden = 20;              ///< width of the prior's coupling conditioners
    DecoderKind decoder = DecoderKind::Mse;
    int priorBlocks = 4;              ///< RealNVP coupling blocks of the prior (science.md: 4)
    int decoderFlowBlocks = 2;        ///< masked autoregressive spline blocks of the `flow` decoder (science.md: 2)
    int splineBins = 32;              ///< bins of every rational-quadratic spline (science.md: 32)
    int mixtureComponents = 1;        ///< K: von Mises components of each periodic conditional (autoregressive only)
    std::vector<int> multiplicity;    ///< size D (empty: all 1): rotor multiplicity m_i; 1 for non-periodic features
};

} // namespace VAEPlugin

#endif
