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

/**
 * Version written into metadata.json; readers accept every version up to it. 2: the native section
 * (kNativeFile, kNativeDataFile) and the integrity record (kIntegrityFile).
 */
constexpr int kFormatVersion = 2;
/** The extra file of the TorchScript archive that holds the metadata. */
constexpr const char* kMetadataFile = "metadata.json";
/** Extra files of the native section (NativeModuleTree; its "checks": BundleCheckRecord). */
constexpr const char *kNativeFile = "native.json", *kNativeDataFile = "native.bin";
/** The extra file with the SHA-256 of every other member (BundleArchive). */
constexpr const char* kIntegrityFile = "integrity.json";
/** Noise slots per feature of the check record's decoder_sample input: 3 fixed slots and 20 Best-Fisher tries of 2. */
constexpr int kCheckNoiseSlots = 3 + 2 * 20;

/**
 * Keys of metadata.json: atoms (System atom indices, in the model's order), latent, features (an object
 * with the keys of namespace Features), standardization and architecture (namespace Architecture),
 * temperature (kelvin of the training data, or null), beta, provenance (namespace Provenance).
 */
namespace Metadata {
constexpr const char *kFormatVersion = "format_version", *kAtoms = "atoms", *kLatent = "latent", *kBeta = "beta";
constexpr const char *kFeatures = "features", *kStandardization = "standardization", *kArchitecture = "architecture";
constexpr const char *kTemperature = "temperature", *kProvenance = "provenance";
} // namespace Metadata

/**
 * Keys of metadata.json's "features" object: the kind, per-feature periodic flags and names; cartesian:
 * the reference positions and how they were aligned; bat: the constraints option, the constrained bonds
 * ([[i, j, length_nm], ...], System indices), the tree (root and rows), torsion references and ln J.
 */
namespace Features {
constexpr const char *kKind = "kind", *kPeriodic = "periodic", *kNames = "names";
constexpr const char *kReference = "reference", *kReferencePositions = "reference_positions", *kAlignment = "alignment";
constexpr const char *kConstraints = "constraints", *kConstrainedBonds = "constrained_bonds", *kLogJacobian = "log_jacobian";
constexpr const char *kRoot = "root", *kTree = "tree", *kTorsionReference = "torsion_reference";
} // namespace Features

/** Keys of metadata.json's "standardization" (mean, scale) and "architecture" objects. */
namespace Architecture {
constexpr const char *kMean = "mean", *kScale = "scale";
constexpr const char *kHidden = "hidden", *kFlowHidden = "flow_hidden", *kDecoder = "decoder", *kLatent = "latent";
constexpr const char *kNumFeatures = "num_features", *kEncoderActivation = "encoder_activation";
constexpr const char *kDecoderActivation = "decoder_activation";
/** Mixture components K of the autoregressive decoder's periodic conditionals; rotor multiplicity per feature (science.md 7). */
constexpr const char *kMixtureComponents = "mixture_components", *kRotorMultiplicity = "rotor_multiplicity";
} // namespace Architecture

/**
 * Keys of metadata.json's "provenance" object (written by the trainer, read by `openmm-vae metrics`):
 * the built-in system of the data (if any), the size of its generated data set and the seed it was
 * generated with, or the absolute path of external data; the training run; final_losses (an object
 * with the keys of namespace Loss) and final_prior_loss (kLoss, kValLoss).
 */
namespace Provenance {
constexpr const char *kSystem = "system", *kSamples = "samples", *kDataSeed = "data_seed", *kData = "data", *kSeed = "seed";
constexpr const char *kReplica = "replica", *kEpochs = "epochs", *kAnneal = "anneal", *kFromBeta = "from_beta", *kDate = "date";
constexpr const char *kFreshModel = "fresh_model", *kPriorEpochs = "prior_epochs", *kFinalLosses = "final_losses",
                     *kFinalPriorLoss = "final_prior_loss", *kTrainer = "trainer";
} // namespace Provenance

/** Keys of the loss objects of "provenance" (nats per sample, raw feature units; loss: the prior fit's -ln P(z)). */
namespace Loss {
constexpr const char *kTotal = "total", *kRecon = "recon", *kKl = "kl";
constexpr const char *kValTotal = "val_total", *kValRecon = "val_recon", *kValKl = "val_kl";
constexpr const char *kLoss = "loss", *kValLoss = "val_loss";
} // namespace Loss

/**
 * Attributes and buffers of the bundle module itself: the VAE (submodule "model"), the standardisation,
 * sizes and the feature kind; cartesian: the reference [n, 3] (nm); bat: the tree's index lists, torsion
 * offsets and constrained bond lengths (see FeatureMaps.h).
 */
namespace Attribute {
constexpr const char *kModel = "model", *kFeatureMean = "feature_mean", *kFeatureScale = "feature_scale";
constexpr const char *kLatent = "latent", *kNumAtoms = "num_atoms", *kNumFeatures = "num_features", *kFeatureKind = "feature_kind";
constexpr const char *kReference = "reference", *kBatRoot = "bat_root", *kBatFreeRows = "bat_free_rows";
constexpr const char *kBatI = "bat_i", *kBatJ = "bat_j", *kBatK = "bat_k", *kBatL = "bat_l";
constexpr const char *kBatTorsionReference = "bat_torsion_reference", *kBatTorsionOffset = "bat_torsion_offset", *kBatBondLength = "bat_bond_length";
} // namespace Attribute

/**
 * Submodules and attributes of the VAE inside the bundle (trainer/model), as native readers see them:
 * encoder, prior and decoder; periodic (List[bool] per feature); decoder_kind (decoderKindName).
 */
namespace Model {
constexpr const char *kEncoder = "encoder", *kPrior = "prior", *kDecoder = "decoder", *kDist = "dist", *kFlow = "flow";
constexpr const char *kPeriodic = "periodic", *kLatent = "latent", *kNumFeatures = "num_features", *kNumPeriodic = "num_periodic";
constexpr const char *kPeriodicIndex = "periodic_index", *kNonPeriodicIndex = "nonperiodic_index", *kFixedVariance = "fixed_variance";
constexpr const char *kDecoderKind = "decoder_kind", *kFlowHidden = "flow_hidden";
} // namespace Model

/** Dense layers of the VAE (trainer/model): parameters <name>_weight [out, in] and <name>_bias [out]. */
namespace Model {
constexpr const char *kWeightSuffix = "_weight", *kBiasSuffix = "_bias";
constexpr const char *kHidden1 = "hidden1", *kHidden2 = "hidden2", *kMean = "mean", *kLogVar = "logvar", *kHidden = "hidden", *kOut = "out";
constexpr const char *kMadeHidden = "made_hidden", *kMadeHiddenSkip = "made_hidden_skip", *kMadeHiddenMask = "made_hidden_mask";
constexpr const char *kMadeOut = "made_out", *kMadeOutSkip = "made_out_skip", *kMadeOutMask = "made_out_mask";
} // namespace Model

/** The prior flow (trainer/model): blocks block0 .. block<num_blocks - 1>, each a coupling with a spline. */
namespace Model {
constexpr const char *kDim = "dim", *kNumBlocks = "num_blocks", *kBlockPrefix = "block", *kSpline = "spline";
constexpr const char *kNumBins = "num_bins", *kBound = "bound", *kMinBin = "min_bin", *kMinSlope = "min_slope", *kSpan = "span";
constexpr const char *kNumTransformed = "num_transformed", *kSplit = "split";
constexpr const char *kConstantInput = "constant_input", *kTransformSecond = "transform_second";
} // namespace Model

/**
 * Proposals that fit molecules (science.md section 7): every decoder's rotor multiplicity per feature
 * (index attribute, 1 where none; absent in older bundles = all 1); the autoregressive decoder's mixture
 * components K (int; its presence marks the per-feature output layout) and the column offset of each
 * feature's output block (index [D + 1]); the (cos, sin) conditioner columns of MADE and MAF inputs
 * (index [D + P]); the circular variant of a MAF block's spline (bool).
 */
namespace Model {
constexpr const char *kMultiplicity = "multiplicity", *kNumComponents = "num_components", *kParamStart = "param_start";
constexpr const char *kConditionerIndex = "conditioner_index", *kCircular = "circular";
/** Autoregressive decoder: hidden units of degree i are [start[i], start[i + 1]) (index [D + 1]; degrees ascend). */
constexpr const char *kMadeHiddenGroupStart = "made_hidden_group_start";
/** The flow decoder's MAF block order flag (bool: features D..1) and its domain scale buffer [D] (native readers). */
constexpr const char *kReversed = "reversed", *kDomainScale = "domain_scale";
} // namespace Model

/** Methods of the bundle module (design.md), in OpenMM units on the positions side. */
namespace Method {
constexpr const char *kForward = "forward", *kLatentMean = "latent_mean", *kFeaturize = "featurize";
constexpr const char *kPositionsFromFeatures = "positions_from_features", *kEncode = "encode", *kEncoderLogProb = "encoder_log_prob";
constexpr const char *kPriorLogProb = "prior_log_prob", *kPriorSample = "prior_sample";
constexpr const char *kDecoderLogProb = "decoder_log_prob", *kDecoderSample = "decoder_sample";
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
