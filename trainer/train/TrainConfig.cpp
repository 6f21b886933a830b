#include "TrainConfig.h"

#include "Stages.h"
#include "Systems.h"

#include <torch/torch.h>

#include <stdexcept>

namespace VAEPlugin {

void TrainConfig::validate() const {
    std::vector<std::string> sources;
    if (!system.empty()) sources.push_back("--system");
    if (!data.empty()) sources.push_back("--data");
    if (!trajectory.path.empty()) sources.push_back("--trajectory");
    if (sources.empty()) throw std::invalid_argument("give one of --system NAME, --data FILE.npy or --trajectory FILE.dcd");
    if (sources.size() == 2) throw std::invalid_argument("give either " + sources[0] + " or " + sources[1] + ", not both");
    if (sources.size() == 3) throw std::invalid_argument("give only one of --system, --data and --trajectory");
    if (!system.empty()) makeSystem(system);  // throws for an unknown system
    const FeatureKind features = trajectory.features;
    const std::string featuresName = featureKindName(features);
    if (!trajectory.path.empty()) {
        if (trajectory.topology.empty()) throw std::invalid_argument("--trajectory needs --topology FILE.pdb");
        if (features != FeatureKind::Cartesian && features != FeatureKind::Bat && features != FeatureKind::Positions)
            throw std::invalid_argument("--features with --trajectory must be " + trajectoryFeatureKinds() + ", not '" +
                                        featuresName + "'");
        if (!periodic.empty()) throw std::invalid_argument("--periodic describes --data columns; trajectory features set it");
        if (trajectory.constraints != "hbonds" && trajectory.constraints != "none")
            throw std::invalid_argument("--constraints must be hbonds or none, not '" + trajectory.constraints + "'");
    } else if (!trajectory.topology.empty()) {
        throw std::invalid_argument("--topology goes with --trajectory");
    }
    if (trajectory.path.empty() && (features == FeatureKind::Cartesian || features == FeatureKind::Bat))
        throw std::invalid_argument("--features " + featuresName + ": these features are computed from a trajectory; use --trajectory and --topology");
    if (!system.empty() && (!periodic.empty() || !trajectory.atoms.empty()))
        throw std::invalid_argument("--periodic and --atoms describe external data (--data); built-in systems set them");
    if (latent < 1) throw std::invalid_argument("--latent must be at least 1");
    if (hidden < 1 || flowHidden < 1) throw std::invalid_argument("--hidden and --flow-hidden must be positive");
    if (mixture < 1) throw std::invalid_argument("--mixture must be at least 1, got " + std::to_string(mixture));
    if (mixture > 1 && decoder != DecoderKind::Autoregressive)
        throw std::invalid_argument("--mixture " + std::to_string(mixture) + " needs --decoder autoregressive (got --decoder " +
                                    decoderKindName(decoder) + ")");
    if (epochs < 1) throw std::invalid_argument("--epochs must be at least 1");
    if (anneal < 0) throw std::invalid_argument("--anneal must not be negative");
    if (priorEpochs < 0) throw std::invalid_argument("--prior-epochs must not be negative");
    if (batch < 1) throw std::invalid_argument("--batch must be at least 1");
    if (!(learningRate > 0)) throw std::invalid_argument("--learning-rate must be positive");
    if (!(validation > 0 && validation < 1)) throw std::invalid_argument("--validation must be in (0, 1)");
    if (samples < 2) throw std::invalid_argument("--samples must be at least 2");
    if (replicas < 1) throw std::invalid_argument("--replicas must be at least 1");
    if (threads < 1) throw std::invalid_argument("--threads must be at least 1");
    if (device != "cpu" && device != "cuda") throw std::invalid_argument("--device must be cpu or cuda, not '" + device + "'");
    if (device == "cuda" && !torch::cuda::is_available())
        throw std::invalid_argument("--device cuda: LibTorch sees no CUDA GPU on this machine (this LibTorch build " +
                                    std::string(torch::cuda::is_available() ? "has" : "may lack") +
                                    " CUDA support); use --device cpu");
    if (dtype != "float32" && dtype != "float64") throw std::invalid_argument("--dtype must be float32 or float64");
    if (out.empty()) throw std::invalid_argument("--out FOLDER is required");
    planStages(betas);
}

nlohmann::json TrainConfig::toJson() const {
    const auto& t = trajectory.temperature;
    const nlohmann::json temperature = t ? nlohmann::json(*t) : nlohmann::json(nullptr);
    nlohmann::json j;
    if (!system.empty()) {
        j["system"] = system;
        j["samples"] = samples;
    } else if (!trajectory.path.empty()) {
        j["trajectory"] = trajectory.path;
        j["topology"] = trajectory.topology;
        j["features"] = featureKindName(trajectory.features);
        j["atoms"] = trajectory.atoms.empty() ? nlohmann::json(trajectory.atomSelection) : nlohmann::json(trajectory.atoms);
        if (trajectory.features == FeatureKind::Bat) j["constraints"] = trajectory.constraints;
        j["temperature"] = temperature;
    } else {
        j["data"] = data;
        j["features"] = featureKindName(trajectory.features);
        j["periodic"] = periodic;
        j["atoms"] = trajectory.atoms;
        j["temperature"] = temperature;
    }
    j["decoder"] = decoderKindName(decoder);
    j["latent"] = latent;
    j["hidden"] = hidden;
    j["flow-hidden"] = flowHidden;
    j["mixture"] = mixture;
    j["betas"] = betas;
    j["epochs"] = epochs;
    j["anneal"] = anneal;
    j["prior-epochs"] = priorEpochs;
    j["batch"] = batch;
    j["learning-rate"] = learningRate;
    j["validation"] = validation;
    j["seed"] = seed;
    j["replicas"] = replicas;
    j["dtype"] = dtype;
    j["device"] = device;
    return j;
}

std::string replicaDirectory(const TrainConfig& config, int replica) {
    if (config.replicas <= 1) return config.out;
    return config.out + "/replica-" + std::to_string(replica);
}

std::string stageDirectory(const TrainConfig& config, int replica, const std::string& betaName) {
    return replicaDirectory(config, replica) + "/beta-" + betaName;
}

} // namespace VAEPlugin
