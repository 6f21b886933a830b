#ifndef OPENMM_VAE_ENCODER_SPEC_H_
#define OPENMM_VAE_ENCODER_SPEC_H_

#include "BundleSchema.h"
#include "NativeModuleTree.h"
#include <string>
#include <vector>

namespace VAEPlugin {

/**
 * What a native (non-TorchScript) implementation needs to evaluate a bundle's CV, the encoder
 * mean of the featurised positions: the feature map, the standardisation and the encoder's dense
 * layers. Read from a bundle written by the trainer (the attributes of BundleSchema::Attribute and the
 * encoder of BundleSchema::Model); shared by the native and GPU kernels so the architecture is read in
 * one place.
 */
struct VAEEncoderSpec {
    /** One dense layer y = W x + b, optionally followed by ReLU. */
    struct Layer {
        int inputs = 0, outputs = 0;
        std::vector<double> weight;  ///< row-major [outputs, inputs]
        std::vector<double> bias;    ///< [outputs]
        bool relu = false;
    };
    FeatureKind featureKind = FeatureKind::XY;
    int numAtoms = 0, numFeatures = 0, latent = 0;
    std::vector<bool> periodic;      ///< per feature; periodic features enter the encoder as (cos, sin)
    std::vector<double> mean, scale; ///< standardisation, per feature (periodic: 0 and 1)
    std::vector<Layer> layers;       ///< hidden1 (ReLU), hidden2 (ReLU), mean head
    Layer logvarHead;                ///< the log-variance head (input: hidden2's output), for ln q(z|x)
    /** cartesian: the reference structure [3 n] (nm) the atoms are fitted onto (bundle buffer `reference`). */
    std::vector<double> reference;
    /**
     * bat: the tree of the bundle (List[int] attributes bat_root, bat_i, bat_j, bat_k, bat_l,
     * bat_torsion_reference, bat_free_rows; positions in the selection; see the feature maps of bundle/).
     * Features: [r0-r1, r1-r2, bonds i-j of the free rows, angle r0-r1-r2, angles i-j-k, torsions
     * i-j-k-l, minus the torsion of the reference row where that is another row, wrapped].
     */
    std::vector<int> batRoot, batI, batJ, batK, batL, batTorsionReference, batFreeRows;
    /** bat: per row, the length (nm) of a constrained bond, 0 for free rows (buffer bat_bond_length). */
    std::vector<double> batBondLength;
    /** Encoder input order: the non-periodic features, then cos of the periodic ones, then their sin. */
    std::vector<int> nonPeriodicFeatures() const;
    std::vector<int> periodicFeatures() const;

    /**
     * Extract the description from a bundle's module tree (its native section, or NativeModuleTree::fromModule);
     * returns false (and says why in whyNot) when the module is not a bundle of a supported architecture.
     */
    static bool fromTree(const NativeModuleTree& bundle, VAEEncoderSpec& spec, std::string& whyNot);
#ifdef OPENMMVAE_WITH_TORCH
    /** fromTree of the module's tree. */
    static bool fromModule(const torch::jit::Module& bundle, VAEEncoderSpec& spec, std::string& whyNot);
#endif
};

} // namespace VAEPlugin

#endif
