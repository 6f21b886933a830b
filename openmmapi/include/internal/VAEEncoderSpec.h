#ifndef OPENMM_VAE_ENCODER_SPEC_H_
#define OPENMM_VAE_ENCODER_SPEC_H_

#include <torch/script.h>
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * What a native (non-TorchScript) implementation needs to evaluate a bundle's CV, the encoder
 * mean of the featurised positions: the feature map, the standardisation and the encoder's dense
 * layers. Read from a bundle written by the trainer (module attributes feature_kind,
 * feature_mean, feature_scale, model.periodic and the parameters of model.encoder); shared by the
 * CPU and GPU kernels so the architecture is described in one place.
 */
struct VAEEncoderSpec {
    /** One dense layer y = W x + b, optionally followed by ReLU. */
    struct Layer {
        int inputs, outputs;
        std::vector<double> weight;  ///< row-major [outputs, inputs]
        std::vector<double> bias;    ///< [outputs]
        bool relu;
    };
    std::string featureKind;         ///< xy | polar | positions | cartesian | bat
    int numAtoms = 0, numFeatures = 0, latent = 0;
    std::vector<bool> periodic;      ///< per feature; periodic features enter the encoder as (cos, sin)
    std::vector<double> mean, scale; ///< standardisation, per feature (periodic: 0 and 1)
    std::vector<Layer> layers;       ///< hidden1 (ReLU), hidden2 (ReLU), mean head
    /** cartesian: the reference structure [3 n] (nm) the atoms are fitted onto (bundle buffer `reference`). */
    std::vector<double> reference;
    /**
     * bat: the tree of the bundle (List[int] attributes bat_root, bat_i, bat_j, bat_k, bat_l,
     * bat_torsion_reference, bat_free_rows; positions in the selection; see trainer/src/Bundle.h).
     * Features: [r0-r1, r1-r2, bonds i-j of the free rows, angle r0-r1-r2, angles i-j-k, torsions
     * i-j-k-l, minus the torsion of the reference row where that is another row, wrapped].
     */
    std::vector<int> batRoot, batI, batJ, batK, batL, batTorsionReference, batFreeRows;
    /** Encoder input order: the non-periodic features, then cos of the periodic ones, then their sin. */
    std::vector<int> nonPeriodicFeatures() const;
    std::vector<int> periodicFeatures() const;

    /**
     * Extract the description from a bundle module; returns false (and says why in whyNot) when
     * the module is not a bundle of a supported architecture.
     */
    static bool fromModule(const torch::jit::Module& bundle, VAEEncoderSpec& spec, std::string& whyNot);
};

} // namespace VAEPlugin

#endif
