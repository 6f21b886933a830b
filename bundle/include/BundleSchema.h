#ifndef OPENMM_VAE_BUNDLE_SCHEMA_H_
#define OPENMM_VAE_BUNDLE_SCHEMA_H_

/**
 * The model bundle's contract (design.md "The model bundle"), every name of it defined here once:
 * the format version, the metadata.json keys, the TorchScript attributes and methods that the
 * plugin and the native evaluators read, the feature kinds and the decoder kinds. The writer
 * (trainer) and every reader (plugin, native evaluators, Monte Carlo) use these names; no other
 * file spells them.
 */

#include <optional>
#include <string>

namespace VAEPlugin {
namespace BundleSchema {

/** Version written into metadata.json; readers accept every version up to it. */
constexpr int kFormatVersion = 1;
/** The extra file of the TorchScript archive that holds the metadata. */
constexpr const char* kMetadataFile = "metadata.json";

/** Keys of metadata.json. */
namespace Metadata {
constexpr const char* kFormatVersion = "format_version";
constexpr const char* kAtoms = "atoms";                  ///< System atom indices, in the model's order
constexpr const char* kLatent = "latent";
constexpr const char* kFeatures = "features";            ///< object: the keys of namespace Features
constexpr const char* kStandardization = "standardization";
constexpr const char* kArchitecture = "architecture";
constexpr const char* kTemperature = "temperature";      ///< kelvin of the training data, or null
constexpr const char* kBeta = "beta";
constexpr const char* kProvenance = "provenance";
} // namespace Metadata

/** Keys of metadata.json's "features" object. */
namespace Features {
constexpr const char* kKind = "kind";
constexpr const char* kPeriodic = "periodic";
constexpr const char* kNames = "names";
constexpr const char* kReference = "reference";
constexpr const char* kReferencePositions = "reference_positions";
constexpr const char* kAlignment = "alignment";
constexpr const char* kConstraints = "constraints";
constexpr const char* kConstrainedBonds = "constrained_bonds";  ///< [[i, j, length_nm], ...], System indices
constexpr const char* kRoot = "root";
constexpr const char* kTree = "tree";
constexpr const char* kTorsionReference = "torsion_reference";
constexpr const char* kLogJacobian = "log_jacobian";
} // namespace Features

/** Keys of metadata.json's "standardization" and "architecture" objects. */
namespace Architecture {
constexpr const char* kMean = "mean";
constexpr const char* kScale = "scale";
constexpr const char* kHidden = "hidden";
constexpr const char* kFlowHidden = "flow_hidden";
constexpr const char* kDecoder = "decoder";
constexpr const char* kNumFeatures = "num_features";
constexpr const char* kLatent = "latent";
constexpr const char* kEncoderActivation = "encoder_activation";
constexpr const char* kDecoderActivation = "decoder_activation";
} // namespace Architecture

/** Keys of metadata.json's "provenance" object (written by the trainer, read by `openmm-vae metrics`). */
namespace Provenance {
constexpr const char* kSystem = "system";                ///< built-in system of the data, if any
constexpr const char* kSamples = "samples";              ///< size of its generated data set
constexpr const char* kDataSeed = "data_seed";           ///< seed it was generated with
constexpr const char* kData = "data";                    ///< absolute path of external data
constexpr const char* kSeed = "seed";
constexpr const char* kReplica = "replica";
constexpr const char* kEpochs = "epochs";
constexpr const char* kAnneal = "anneal";
constexpr const char* kFromBeta = "from_beta";
constexpr const char* kFreshModel = "fresh_model";
constexpr const char* kPriorEpochs = "prior_epochs";
constexpr const char* kFinalLosses = "final_losses";     ///< object: the keys of namespace Loss
constexpr const char* kFinalPriorLoss = "final_prior_loss";  ///< object: kLoss, kValLoss
constexpr const char* kDate = "date";
constexpr const char* kTrainer = "trainer";
} // namespace Provenance

/** Keys of the loss objects of "provenance" (nats per sample, raw feature units). */
namespace Loss {
constexpr const char* kTotal = "total";
constexpr const char* kRecon = "recon";
constexpr const char* kKl = "kl";
constexpr const char* kValTotal = "val_total";
constexpr const char* kValRecon = "val_recon";
constexpr const char* kValKl = "val_kl";
constexpr const char* kLoss = "loss";                    ///< prior fit: -ln P(z)
constexpr const char* kValLoss = "val_loss";
} // namespace Loss

/** Attributes and buffers of the bundle module itself. */
namespace Attribute {
constexpr const char* kModel = "model";                  ///< the VAE (submodule)
constexpr const char* kFeatureMean = "feature_mean";
constexpr const char* kFeatureScale = "feature_scale";
constexpr const char* kLatent = "latent";
constexpr const char* kNumAtoms = "num_atoms";
constexpr const char* kNumFeatures = "num_features";
constexpr const char* kFeatureKind = "feature_kind";
constexpr const char* kReference = "reference";          ///< cartesian: [n, 3] nm
constexpr const char* kBatRoot = "bat_root";
constexpr const char* kBatI = "bat_i";
constexpr const char* kBatJ = "bat_j";
constexpr const char* kBatK = "bat_k";
constexpr const char* kBatL = "bat_l";
constexpr const char* kBatTorsionReference = "bat_torsion_reference";
constexpr const char* kBatFreeRows = "bat_free_rows";
constexpr const char* kBatTorsionOffset = "bat_torsion_offset";
constexpr const char* kBatBondLength = "bat_bond_length";
} // namespace Attribute

/** Submodules and attributes of the VAE inside the bundle (trainer/model), as native readers see them. */
namespace Model {
constexpr const char* kEncoder = "encoder";
constexpr const char* kPrior = "prior";
constexpr const char* kDecoder = "decoder";
constexpr const char* kPeriodic = "periodic";            ///< List[bool] per feature
constexpr const char* kLatent = "latent";
constexpr const char* kNumFeatures = "num_features";
constexpr const char* kNumPeriodic = "num_periodic";
constexpr const char* kPeriodicIndex = "periodic_index";
constexpr const char* kNonPeriodicIndex = "nonperiodic_index";
constexpr const char* kFixedVariance = "fixed_variance";
constexpr const char* kDist = "dist";
constexpr const char* kFlow = "flow";
constexpr const char* kDecoderKind = "decoder_kind";     ///< str: decoderKindName
constexpr const char* kFlowHidden = "flow_hidden";
// dense layers: <name>_weight [out, in], <name>_bias [out]
constexpr const char* kWeightSuffix = "_weight";
constexpr const char* kBiasSuffix = "_bias";
constexpr const char* kHidden1 = "hidden1";
constexpr const char* kHidden2 = "hidden2";
constexpr const char* kMean = "mean";
constexpr const char* kLogVar = "logvar";
constexpr const char* kHidden = "hidden";
constexpr const char* kOut = "out";
constexpr const char* kMadeHidden = "made_hidden";
constexpr const char* kMadeHiddenSkip = "made_hidden_skip";
constexpr const char* kMadeOut = "made_out";
constexpr const char* kMadeOutSkip = "made_out_skip";
constexpr const char* kMadeHiddenMask = "made_hidden_mask";
constexpr const char* kMadeOutMask = "made_out_mask";
// prior flow: blocks block0..block<num_blocks-1>, each a coupling with a spline
constexpr const char* kDim = "dim";
constexpr const char* kNumBlocks = "num_blocks";
constexpr const char* kBlockPrefix = "block";
constexpr const char* kSpline = "spline";
constexpr const char* kNumBins = "num_bins";
constexpr const char* kBound = "bound";
constexpr const char* kMinBin = "min_bin";
constexpr const char* kMinSlope = "min_slope";
constexpr const char* kSpan = "span";
constexpr const char* kNumTransformed = "num_transformed";
constexpr const char* kSplit = "split";
constexpr const char* kConstantInput = "constant_input";
constexpr const char* kTransformSecond = "transform_second";
} // namespace Model

/** Methods of the bundle module (design.md), in OpenMM units on the positions side. */
namespace Method {
constexpr const char* kForward = "forward";
constexpr const char* kLatentMean = "latent_mean";
constexpr const char* kFeaturize = "featurize";
constexpr const char* kPositionsFromFeatures = "positions_from_features";
constexpr const char* kEncode = "encode";
constexpr const char* kEncoderLogProb = "encoder_log_prob";
constexpr const char* kPriorLogProb = "prior_log_prob";
constexpr const char* kPriorSample = "prior_sample";
constexpr const char* kDecoderLogProb = "decoder_log_prob";
constexpr const char* kDecoderSample = "decoder_sample";
} // namespace Method

} // namespace BundleSchema

/** How positions become the features the VAE sees (design.md "Feature kinds"). */
enum class FeatureKind { XY, Polar, Positions, Cartesian, Bat };

/** The name of a kind as written in bundles and CLI flags: xy, polar, positions, cartesian, bat. */
const char* featureKindName(FeatureKind kind);
/** The kind of a name, or none for an unknown name. */
std::optional<FeatureKind> parseFeatureKind(const std::string& name);
/** The names of every kind, "xy | polar | positions | cartesian | bat" (for messages). */
std::string featureKindNames();

/** The decoders of science.md section 1. */
enum class DecoderKind { Mse, Condind, Autoregressive, Flow };

/** The name of a decoder as written in bundles and CLI flags: mse, condind, autoregressive, flow. */
const char* decoderKindName(DecoderKind kind);
/** The decoder of a name, or none for an unknown name. */
std::optional<DecoderKind> parseDecoderKind(const std::string& name);
/** "mse | condind | autoregressive | flow" (for messages). */
std::string decoderKindNames();

} // namespace VAEPlugin

#endif
