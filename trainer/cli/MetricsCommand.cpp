#include "MetricsCommand.h"

#include "AtomicFile.h"
#include "VAEModelBundle.h"
#include "BundleSchema.h"
#include "CommandRunner.h"
#include "Metrics.h"
#include "Npy.h"
#include "Systems.h"
#include "TrajectoryDataset.h"
#include "VaeMonteCarlo.h"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace fs = std::filesystem;

namespace VAEPlugin {

namespace {

/** Header names and the last data row of a CSV file of numbers; empty names when the file is absent. */
std::pair<std::vector<std::string>, std::vector<double>> lastCsvRow(const fs::path& path, int64_t* rows) {
    std::ifstream in(path);
    *rows = 0;
    if (!in) return {};
    auto split = [](const std::string& line) {
        std::vector<std::string> cells;
        std::stringstream s(line);
        std::string cell;
        while (std::getline(s, cell, ',')) cells.push_back(cell);
        return cells;
    };
    std::string line, last;
    if (!std::getline(in, line)) throw std::runtime_error(path.string() + ": empty file (expected a CSV header)");
    std::vector<std::string> names = split(line);
    while (std::getline(in, line))
        if (!line.empty()) {
            last = line;
            (*rows)++;
        }
    if (last.empty()) return {names, {}};
    std::vector<std::string> cells = split(last);
    if (cells.size() != names.size())
        throw std::runtime_error(path.string() + ": the last row has " + std::to_string(cells.size()) +
                                 " columns, the header " + std::to_string(names.size()));
    std::vector<double> values;
    for (const auto& c : cells) {
        try {
            values.push_back(std::stod(c));
        } catch (const std::exception&) {
            throw std::runtime_error(path.string() + ": '" + c + "' in the last row is not a number");
        }
    }
    return {names, values};
}

/** The bundle's own features of the model's atoms in every frame of a DCD or .npy trajectory. */
torch::Tensor trajectoryFeatures(torch::jit::Module& bundle, const std::vector<int>& atoms, const std::string& path) {
    torch::Tensor frames = readPositionFrames(path);
    if (atoms.empty()) throw std::invalid_argument("--trajectory: the model names no atoms (metadata 'atoms')");
    for (int a : atoms)
        if (a < 0 || a >= frames.size(1))
            throw std::invalid_argument("--trajectory " + path + " has " + std::to_string(frames.size(1)) +
                                        " atoms per frame, but the model uses atom " + std::to_string(a));
    return featurizeInBatches(
        bundle, frames.index_select(1, torch::tensor(std::vector<int64_t>(atoms.begin(), atoms.end()), torch::kLong)));
}

} // namespace

nlohmann::json stageFinalLosses(const std::string& modelPath) {
    fs::path stageDir = fs::absolute(modelPath).parent_path();
    fs::path runDir = stageDir.parent_path();
    // The stage names in training order: the beta list of this stage's config.json when present.
    std::vector<std::string> names;
    std::ifstream cfg(stageDir / "config.json");
    if (cfg) {
        try {
            nlohmann::json c = nlohmann::json::parse(cfg);
            if (c.contains("betas") && c["betas"].is_array())
                for (const auto& b : c["betas"]) names.push_back(b.is_string() ? b.get<std::string>() : b.dump());
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error((stageDir / "config.json").string() + ": " + e.what());
        }
    }
    if (names.empty() && fs::is_directory(runDir)) {
        std::vector<std::pair<double, std::string>> found;
        for (const auto& entry : fs::directory_iterator(runDir)) {
            std::string n = entry.path().filename().string();
            if (!entry.is_directory() || n.rfind("beta-", 0) != 0) continue;
            try {
                found.emplace_back(std::stod(n.substr(5)), n.substr(5));
            } catch (const std::exception&) {
            }
        }
        std::sort(found.begin(), found.end());
        for (const auto& f : found) names.push_back(f.second);
    }
    nlohmann::json stages = nlohmann::json::array();
    for (const auto& name : names) {
        fs::path dir = runDir / ("beta-" + name);
        int64_t rows = 0;
        auto [header, values] = lastCsvRow(dir / "losses.csv", &rows);
        if (values.empty()) continue;
        nlohmann::json e;
        e["stage"] = name;
        e["epochs"] = rows;
        for (size_t k = 0; k < header.size(); k++)
            if (header[k] != "epoch") e[header[k]] = values[k];
        int64_t priorRows = 0;
        auto [priorHeader, prior] = lastCsvRow(dir / "prior_losses.csv", &priorRows);
        for (size_t k = 0; k < priorHeader.size() && !prior.empty(); k++) {
            if (priorHeader[k] == "loss") e["prior_loss"] = prior[k];
            if (priorHeader[k] == "val_loss") e["prior_val_loss"] = prior[k];
        }
        stages.push_back(e);
    }
    return stages;
}

nlohmann::json runMetricsCommand(const MetricsCommandOptions& o, std::ostream& log) {
    if (int(!o.system.empty()) + int(!o.data.empty()) + int(!o.trajectory.empty()) != 1)
        throw std::invalid_argument("give exactly one of --system NAME, --data FILE.npy and --trajectory FILE");
    if (o.chains < 1) throw std::invalid_argument("--chains must be at least 1");
    if (o.moves < 0) throw std::invalid_argument("--moves must be >= 0");
    if (o.latentSamples < 0) throw std::invalid_argument("--latent-samples must be >= 0");
    if (!fs::exists(o.model)) throw std::invalid_argument("model bundle '" + o.model + "' does not exist");
    std::shared_ptr<VAEModelBundle> loaded = VAEModelBundle::load(o.model);
    const nlohmann::json& meta = loaded->getMetadata();
    torch::jit::Module bundle = loaded->createModule();  // float64 (as written), eval mode
    namespace P = BundleSchema::Provenance;
    const nlohmann::json prov = meta.value(BundleSchema::Metadata::kProvenance, nlohmann::json::object());
    const nlohmann::json features = meta.value(BundleSchema::Metadata::kFeatures, nlohmann::json::object());
    const std::string kind = features.value(BundleSchema::Features::kKind, std::string());

    torch::Tensor data;
    std::string systemName = o.system;
    nlohmann::json result;
    result["model"] = fs::absolute(o.model).string();
    if (!o.system.empty()) {
        auto sys = makeSystem(o.system);
        const std::string systemKind = featureKindName(sys->featureKind());
        if (!kind.empty() && kind != systemKind)
            throw std::invalid_argument("the model's features are '" + kind + "' but system '" + o.system +
                                        "' has features '" + systemKind + "'");
        int64_t n = o.samples ? *o.samples : prov.value(P::kSamples, int64_t(100000));
        uint64_t seed = o.dataSeed ? *o.dataSeed : prov.value(P::kDataSeed, uint64_t(1));
        if (n < 2) throw std::invalid_argument("--samples must be at least 2");
        data = sys->sample(n, seed);
        result["system"] = o.system;
        result["data_seed"] = seed;
    } else if (!o.data.empty()) {
        data = readNpy(o.data);
        systemName = prov.value(P::kSystem, std::string());
        result["data"] = fs::absolute(o.data).string();
    } else {
        data = trajectoryFeatures(bundle, loaded->getMetadataAtoms(), o.trajectory);
        result["trajectory"] = fs::absolute(o.trajectory).string();
    }
    checkFeatures(bundle, data, "metrics");

    LatentMetricsOptions lo;
    lo.batchSize = o.batch;
    lo.seed = o.seed;
    LatentMetrics m = computeLatentMetrics(bundle, data, lo);
    result["samples"] = m.samples;
    result["jd_encode"] = m.jdEncode;
    result["jd_encode_total"] = m.jdEncodeTotal;
    result["active_dims"] = m.activeDims;
    result["kl_q_n"] = m.klQN;
    result["kl_n_q"] = m.klNQ;
    result["jd_prior"] = m.jdPrior;
    result["marginal_entropies"] = m.marginalEntropies;
    result["joint_entropy"] = m.jointEntropy;
    result["total_correlation"] = m.totalCorrelation;
    // Copied from the bundle under the bundle's own names.
    if (meta.contains(BundleSchema::Metadata::kBeta)) result[BundleSchema::Metadata::kBeta] = meta[BundleSchema::Metadata::kBeta];
    for (const char* key : {P::kFinalLosses, P::kFinalPriorLoss})
        if (prov.contains(key)) result[key] = prov[key];
    result["stage_final_losses"] = stageFinalLosses(o.model);
    log << "JD_encode total " << m.jdEncodeTotal << " (active dims " << m.activeDims << "), JD_prior " << m.jdPrior
        << ", total correlation " << m.totalCorrelation << "\n";

    result["f_acc"] = nullptr;
    result["n_moves"] = 0;
    if (o.moves > 0 && !systemName.empty()) {
        auto sys = makeSystem(systemName);
        auto gen = at::detail::createCPUGenerator(o.seed);
        torch::Tensor idx = torch::randint(data.size(0), {o.chains}, gen, torch::kLong);
        VAEMCOptions mo;
        mo.moves = o.moves;
        mo.seed = o.seed;
        VAEMCResult r = runVAEMC(bundle, *sys, data.index_select(0, idx), mo);
        result["f_acc"] = r.fAcc;
        result["n_moves"] = r.attempted;
        result["chains"] = o.chains;
        result["moves"] = o.moves;
        result["accepted"] = r.accepted;
        result["rejected_non_finite"] = r.rejectedNonFinite;
        result["mc_native"] = r.native;
        result["mc_system"] = systemName;
        nlohmann::json terms;
        for (int k = 0; k < kVAEMCNumTerms; k++)
            terms[vaeMCTermNames()[k]] = {{"mean", r.terms[k].mean}, {"std", r.terms[k].std}, {"finite", r.terms[k].finite}};
        terms["total"] = {{"mean", r.total.mean}, {"std", r.total.std}, {"finite", r.total.finite}};
        result["ln_alpha_terms"] = terms;
        log << "f_acc " << r.fAcc << " over " << r.attempted << " moves (" << o.chains << " chains x " << o.moves
            << "), " << r.rejectedNonFinite << " non-finite proposals rejected\n";
    } else if (o.moves > 0) {
        log << "f_acc not computed: the energy is unknown (no built-in system in the bundle's provenance)\n";
    }

    std::string out = o.out.empty() ? (fs::path(o.model).parent_path() / "metrics.json").string() : o.out;
    if (o.latentSamples > 0) {
        int64_t m = std::min<int64_t>(o.latentSamples, data.size(0));
        auto gen = at::detail::createCPUGenerator(o.seed);
        torch::Tensor rows = std::get<0>(torch::randperm(data.size(0), gen, torch::kLong).narrow(0, 0, m).sort());
        torch::Tensor subsample = data.index_select(0, rows).contiguous();
        torch::Tensor mu;
        {
            torch::NoGradGuard guard;
            mu = bundle.run_method(BundleSchema::Method::kEncode, subsample).toTuple()->elements()[0].toTensor();
        }
        fs::path folder = fs::absolute(out).parent_path();
        writeNpy((folder / "data.npy").string(), subsample);
        writeNpy((folder / "latent_mean.npy").string(), mu.to(torch::kFloat64).contiguous());
        result["latent_samples"] = m;
    }
    writeFileAtomically(out, result.dump(2) + "\n");
    log << "wrote " << out << "\n";
    return result;
}

void addMetricsCommand(CLI::App& app) {
    auto o = std::make_shared<MetricsCommandOptions>();
    auto samples = std::make_shared<int64_t>(-1);
    auto dataSeed = std::make_shared<int64_t>(-1);
    CLI::App* sub = app.add_subcommand("metrics", "Latent metrics and VAE Monte Carlo acceptance of a model bundle");
    sub->add_option("model", o->model, "model bundle (model.pt)")->required();
    auto* sys = sub->add_option("--system", o->system, "built-in system whose data set is used");
    auto* data = sub->add_option("--data", o->data, ".npy file of raw features in the model's feature kind");
    auto* trajectory = sub->add_option("--trajectory", o->trajectory,
                                       "DCD trajectory or .npy positions in nm [frames, atoms, 3] of the System: the "
                                       "model's atoms are featurised by the bundle's own featurize");
    sys->excludes(data);
    sys->excludes(trajectory);
    data->excludes(trajectory);
    sub->add_option("--chains", o->chains, "parallel VAE-MC chains")->capture_default_str();
    sub->add_option("--moves", o->moves, "VAE-MC moves per chain (0: no f_acc)")->capture_default_str();
    sub->add_option("--out", o->out, "JSON output (default: metrics.json beside the model)");
    sub->add_option("--samples", *samples, "data set size for --system (default: as trained)");
    sub->add_option("--data-seed", *dataSeed, "data seed for --system (default: as trained)");
    sub->add_option("--seed", o->seed, "seed of the metrics' random numbers")->capture_default_str();
    sub->add_option("--batch", o->batch, "JD_encode batch of consecutive configurations")->capture_default_str();
    sub->add_option("--latent-samples", o->latentSamples,
                    "Rows of data.npy (raw features) and latent_mean.npy (their encoder means) written beside the JSON "
                    "for plots (0: none)")
        ->capture_default_str();
    sub->callback([o, samples, dataSeed]() {
        MetricsCommandOptions opts = *o;
        if (*samples >= 0) opts.samples = *samples;
        if (*dataSeed >= 0) opts.dataSeed = static_cast<uint64_t>(*dataSeed);
        runCommand("metrics", 1, [&]() {
            runMetricsCommand(opts, std::cout);
            return 0;
        });
    });
}

} // namespace VAEPlugin
