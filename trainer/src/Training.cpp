#include "Training.h"

#include "AtomicFile.h"
#include "Bundle.h"
#include "Distributed.h"
#include "Systems.h"
#include "VAEModelBuilder.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unistd.h>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace VAEPlugin {

namespace fs = std::filesystem;

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/** A seed derived from (base, a, b), well mixed, reproducible. */
uint64_t mixSeed(uint64_t base, uint64_t a, uint64_t b) {
    return splitmix64(splitmix64(splitmix64(base) ^ (a + 0x1234567ULL)) ^ (b + 0x89abcdefULL));
}

std::string lossesCsv(const std::vector<EpochLosses>& rows) {
    std::ostringstream s;
    s << "epoch,beta,total,recon,kl,val_total,val_recon,val_kl\n";
    s << std::setprecision(10);
    for (const auto& r : rows)
        s << r.epoch << ',' << r.beta << ',' << r.total << ',' << r.recon << ',' << r.kl << ',' << r.valTotal << ','
          << r.valRecon << ',' << r.valKl << '\n';
    return s.str();
}

nlohmann::json rowToJson(const EpochLosses& r) {
    return {r.epoch, r.beta, r.total, r.recon, r.kl, r.valTotal, r.valRecon, r.valKl, r.samplesPerSecond};
}

EpochLosses rowFromJson(const nlohmann::json& j) {
    EpochLosses r;
    r.epoch = j[0];
    r.beta = j[1];
    r.total = j[2];
    r.recon = j[3];
    r.kl = j[4];
    r.valTotal = j[5];
    r.valRecon = j[6];
    r.valKl = j[7];
    r.samplesPerSecond = j[8];
    return r;
}

std::string isoDate() {
    std::time_t t = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

std::vector<torch::Tensor> parameterList(const torch::jit::Module& m) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m.parameters(true)) out.push_back(p);
    return out;
}

/** The key torch::optim::Adam files a parameter's state under (a string in LibTorch 1.x, a pointer in 2.x). */
using AdamStateKey = std::decay_t<decltype(std::declval<torch::optim::Adam&>().state())>::key_type;
template <typename Key>
Key stateKey(const torch::Tensor& p) {
    if constexpr (std::is_same_v<Key, std::string>) {
        std::ostringstream s;  // what c10::guts::to_string(p.unsafeGetTensorImpl()) gives
        s << p.unsafeGetTensorImpl();
        return s.str();
    } else {
        return static_cast<Key>(p.unsafeGetTensorImpl());
    }
}
AdamStateKey adamKey(const torch::Tensor& p) { return stateKey<AdamStateKey>(p); }

/** Checkpoint of one replica: where it stands, the model, the optimizer, the losses so far. */
struct Checkpoint {
    int stage = 0;
    int epoch = 0;  ///< next epoch to run inside the stage (main epochs, then prior epochs)
    std::vector<EpochLosses> rows;
    std::vector<std::array<double, 3>> priorRows;  ///< epoch, loss, val_loss
    nlohmann::json config;
};

void saveCheckpoint(const std::string& path, const Checkpoint& c, const torch::jit::Module& model,
                    torch::optim::Adam& optimizer, const std::vector<torch::Tensor>& optimized) {
    torch::serialize::OutputArchive archive;
    nlohmann::json meta;
    meta["stage"] = c.stage;
    meta["epoch"] = c.epoch;
    meta["config"] = c.config;
    meta["rows"] = nlohmann::json::array();
    for (const auto& r : c.rows) meta["rows"].push_back(rowToJson(r));
    meta["prior_rows"] = c.priorRows;
    archive.write("meta", c10::IValue(meta.dump()));
    for (const auto& p : model.named_parameters(true)) archive.write("param." + p.name, p.value.detach().cpu());
    for (const auto& b : model.named_buffers(true)) archive.write("buffer." + b.name, b.value.detach().cpu(), true);
    auto& state = optimizer.state();
    for (size_t i = 0; i < optimized.size(); i++) {
        auto it = state.find(adamKey(optimized[i]));
        if (it == state.end()) continue;
        auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
        std::string k = "adam." + std::to_string(i) + ".";
        archive.write(k + "step", torch::tensor(s.step(), torch::kInt64));
        archive.write(k + "exp_avg", s.exp_avg().cpu());
        archive.write(k + "exp_avg_sq", s.exp_avg_sq().cpu());
    }
    writeFileAtomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

Checkpoint readCheckpointMeta(const std::string& path) {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue metaValue;
    archive.read("meta", metaValue);
    auto meta = nlohmann::json::parse(metaValue.toStringRef());
    Checkpoint c;
    c.stage = meta["stage"];
    c.epoch = meta["epoch"];
    c.config = meta["config"];
    for (const auto& r : meta["rows"]) c.rows.push_back(rowFromJson(r));
    c.priorRows = meta["prior_rows"].get<std::vector<std::array<double, 3>>>();
    return c;
}

void loadCheckpointState(const std::string& path, torch::jit::Module& model, torch::optim::Adam& optimizer,
                         const std::vector<torch::Tensor>& optimized) {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::NoGradGuard guard;
    for (const auto& p : model.named_parameters(true)) {
        torch::Tensor t;
        archive.read("param." + p.name, t);
        p.value.copy_(t);
    }
    for (const auto& b : model.named_buffers(true)) {
        torch::Tensor t;
        if (archive.try_read("buffer." + b.name, t, true)) b.value.copy_(t);
    }
    auto& state = optimizer.state();
    for (size_t i = 0; i < optimized.size(); i++) {
        std::string k = "adam." + std::to_string(i) + ".";
        torch::Tensor step, m, v;
        if (!archive.try_read(k + "step", step)) continue;
        archive.read(k + "exp_avg", m);
        archive.read(k + "exp_avg_sq", v);
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(step.item<int64_t>());
        s->exp_avg(m.to(optimized[i].options()).clone());
        s->exp_avg_sq(v.to(optimized[i].options()).clone());
        state[adamKey(optimized[i])] = std::move(s);
    }
}

/** Batch-mean losses (total, recon, kl) of the model's loss method. */
std::array<torch::Tensor, 3> modelLoss(torch::jit::Module& model, const torch::Tensor& x, double beta) {
    auto out = model.get_method("loss")({x, beta}).toTuple();
    return {out->elements()[0].toTensor(), out->elements()[1].toTensor(), out->elements()[2].toTensor()};
}

class ReplicaRun {
public:
    ReplicaRun(const TrainConfig& config, const Dataset& dataset, int replica, std::ostream& log, int& epochsRun,
               DataParallelGroup* group = nullptr)
        : config_(config), dataset_(dataset), replica_(replica), log_(log), epochsRun_(epochsRun), group_(group),
          writer_(!group || group->rank() == 0) {
        seed_ = config.seed + static_cast<uint64_t>(replica);
        stages_ = planStages(config.betas);
        device_ = torch::Device(config.device == "cuda" ? torch::kCUDA : torch::kCPU);
        dtype_ = config.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;

        // Split: shuffle with the data seed (the same split for every replica), last fraction held out.
        int64_t n = dataset.data.size(0);
        std::vector<int64_t> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::mt19937_64 rng(mixSeed(config.seed, 0xda7a, 0));
        std::shuffle(order.begin(), order.end(), rng);
        int64_t nVal = std::max<int64_t>(1, static_cast<int64_t>(std::llround(config.validation * n)));
        if (nVal >= n) throw std::invalid_argument("the validation fraction leaves no training data");
        auto index = torch::tensor(order, torch::kInt64);
        auto shuffled = dataset.data.index_select(0, index);
        auto trainRaw = shuffled.narrow(0, 0, n - nVal);
        auto valRaw = shuffled.narrow(0, n - nVal, nVal);
        standardization_ = Standardization::fit(trainRaw, dataset.features.periodic);
        logScaleSum_ = standardization_.logScaleSum();
        train_ = standardization_.apply(trainRaw).to(device_, dtype_).contiguous();
        val_ = standardization_.apply(valRaw).to(device_, dtype_).contiguous();

        modelConfig_.numFeatures = dataset.features.numFeatures();
        modelConfig_.periodic = dataset.features.periodic;
        modelConfig_.latent = config.latent;
        modelConfig_.hidden = config.hidden;
        modelConfig_.flowHidden = config.flowHidden;
        modelConfig_.decoder = config.decoder;
    }

    torch::jit::Module run() {
        std::string dir = replicaDirectory(config_, replica_);
        if (writer_) fs::create_directories(dir);
        std::string checkpointPath = dir + "/checkpoint.pt";
        Checkpoint cp;
        cp.config = config_.toJson();
        bool resuming = false;
        if (config_.resume) {
            if (!fs::exists(checkpointPath)) {
                if (allStagesDone()) {
                    log_ << "replica " << replica_ << ": already complete, nothing to resume\n";
                    return loadFinalModel();
                }
                bool started = false;
                for (const auto& st : stages_)
                    if (fs::exists(stageDirectory(config_, replica_, st.name) + "/losses.csv")) started = true;
                if (started) throw std::runtime_error("--resume: no checkpoint at " + checkpointPath);
            }
        }
        if (config_.resume && fs::exists(checkpointPath)) {
            cp = readCheckpointMeta(checkpointPath);
            if (cp.config != config_.toJson())
                throw std::runtime_error("--resume: the checkpoint " + checkpointPath +
                                         " was written with different settings:\n  checkpoint: " + cp.config.dump() +
                                         "\n  now:        " + config_.toJson().dump());
            resuming = true;
        }

        torch::jit::Module model;
        bool haveModel = false;
        for (int s = resuming ? cp.stage : 0; s < static_cast<int>(stages_.size()); s++) {
            const Stage& stage = stages_[s];
            int startEpoch = 0;
            if (resuming && s == cp.stage) {
                startEpoch = cp.epoch;
            } else {
                cp.rows.clear();
                cp.priorRows.clear();
            }
            // The model the stage starts from.
            if (stage.fresh) {
                model = buildVAE(modelConfig_, mixSeed(seed_, 0x1417, s));
            } else if (!haveModel) {
                // Resuming into a continued stage: the checkpoint restores every weight below.
                model = buildVAE(modelConfig_, mixSeed(seed_, 0x1417, s));
            }
            if (stage.fresh || !haveModel) {
                model.to(dtype_);
                model.to(device_);
            }
            haveModel = true;
            model.train();

            int total = config_.epochs + (stage.priorFit ? config_.priorEpochs : 0);
            std::string stageDir = stageDirectory(config_, replica_, stage.name);
            if (writer_) {
                fs::create_directories(stageDir);
                writeFileAtomically(stageDir + "/config.json", stageConfig(stage).dump(2) + "\n");
            }

            std::unique_ptr<torch::optim::Adam> optimizer;
            std::vector<torch::Tensor> optimized;
            bool priorPhase = false;
            auto makeOptimizer = [&](bool prior) {
                priorPhase = prior;
                optimized = prior ? parameterList(model.attr("prior").toModule()) : parameterList(model);
                optimizer = std::make_unique<torch::optim::Adam>(optimized,
                                                                 torch::optim::AdamOptions(config_.learningRate));
            };
            makeOptimizer(stage.priorFit && startEpoch >= config_.epochs);
            if (resuming && s == cp.stage) {
                loadCheckpointState(checkpointPath, model, *optimizer, optimized);
                log_ << tag(stage) << "resumed at epoch " << startEpoch << " from " << checkpointPath << "\n";
            }
            resuming = false;

            for (int epoch = startEpoch; epoch < total; epoch++) {
                if (epoch >= config_.epochs && !priorPhase) makeOptimizer(true);
                uint64_t epochSeed = mixSeed(seed_, s + 1, epoch);
                torch::manual_seed(epochSeed);
                if (device_.is_cuda()) torch::cuda::manual_seed_all(epochSeed);
                if (!priorPhase) {
                    double beta = annealedBeta(stage.fromBeta, stage.beta, epoch, config_.anneal);
                    EpochLosses row = trainEpoch(model, *optimizer, beta, epochSeed);
                    row.epoch = epoch;
                    cp.rows.push_back(row);
                    if (writer_) writeFileAtomically(stageDir + "/losses.csv", lossesCsv(cp.rows));
                    if (!config_.quiet) printRow(stage, row, total);
                } else {
                    auto pr = priorEpoch(model, *optimizer, epochSeed);
                    cp.priorRows.push_back({double(epoch - config_.epochs), pr[0], pr[1]});
                    if (writer_) writePriorCsv(stageDir, cp.priorRows);
                    if (!config_.quiet)
                        log_ << tag(stage) << "prior epoch " << (epoch - config_.epochs + 1) << "/" << config_.priorEpochs
                             << "  -ln P(z) " << std::fixed << std::setprecision(4) << pr[0] << "  val " << pr[1]
                             << std::defaultfloat << "  " << std::setprecision(0) << std::fixed << pr[2]
                             << " samples/s" << std::defaultfloat << std::setprecision(6) << "\n";
                }
                cp.stage = s;
                cp.epoch = epoch + 1;
                if (writer_) saveCheckpoint(checkpointPath, cp, model, *optimizer, optimized);
                epochsRun_++;
                if (config_.stopAfter >= 0 && epochsRun_ >= config_.stopAfter &&
                    !(replica_ + 1 == config_.replicas && s + 1 == int(stages_.size()) && epoch + 1 == total))
                    throw StoppedEarly("stopped after " + std::to_string(epochsRun_) +
                                       " epochs (--stop-after); continue with --resume");
            }
            if (writer_) exportBundle(model, stage, stageDir, cp.rows, cp.priorRows);
            // The next stage starts at its epoch 0; keep the checkpoint pointing there.
            cp.stage = s + 1;
            cp.epoch = 0;
            cp.rows.clear();
            cp.priorRows.clear();
        }
        std::error_code ec;
        if (writer_) fs::remove(checkpointPath, ec);
        if (!haveModel) return loadFinalModel();
        return model;
    }

private:
    std::string tag(const Stage& stage) const {
        std::string t = "[";
        if (config_.replicas > 1) t += "replica-" + std::to_string(replica_) + " ";
        return t + "beta-" + stage.name + "] ";
    }

    bool allStagesDone() const {
        for (const auto& st : stages_)
            if (!fs::exists(stageDirectory(config_, replica_, st.name) + "/model.pt")) return false;
        return true;
    }

    torch::jit::Module loadFinalModel() const {
        auto bundle = torch::jit::load(stageDirectory(config_, replica_, stages_.back().name) + "/model.pt");
        return bundle.attr("model").toModule();
    }

    /** The training set in the epoch's order (a seeded shuffle). */
    torch::Tensor shuffledTrainingData(uint64_t epochSeed) const {
        std::vector<int64_t> order(train_.size(0));
        std::iota(order.begin(), order.end(), 0);
        std::mt19937_64 rng(epochSeed);
        std::shuffle(order.begin(), order.end(), rng);
        return train_.index_select(0, torch::tensor(order, torch::kInt64).to(device_));
    }

    EpochLosses trainEpoch(torch::jit::Module& model, torch::optim::Adam& optimizer, double beta, uint64_t epochSeed) {
        auto start = std::chrono::steady_clock::now();
        int64_t n = train_.size(0);
        auto shuffled = shuffledTrainingData(epochSeed);
        double sums[3] = {0, 0, 0};
        for (int64_t b = 0; b < n; b += config_.batch) {
            int64_t size = std::min<int64_t>(config_.batch, n - b);
            auto xb = shuffled.narrow(0, b, size);
            if (group_) {  // data parallel: this rank's pieces of the batch, gradients summed over ranks
                auto means = group_->step(
                    xb, [&](int piece) { return mixSeed(epochSeed, 0xd157 + b, piece); },
                    [&](const torch::Tensor& rows) {
                        auto l = modelLoss(model, rows, beta);
                        return std::vector<torch::Tensor>(l.begin(), l.end());
                    },
                    optimizer);
                for (int k = 0; k < 3; k++) sums[k] += means[k] * size;
                continue;
            }
            auto losses = modelLoss(model, xb, beta);
            optimizer.zero_grad();
            losses[0].backward();
            optimizer.step();
            for (int k = 0; k < 3; k++) sums[k] += losses[k].item<double>() * size;
        }
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        EpochLosses row;
        row.beta = beta;
        row.total = sums[0] / n + logScaleSum_;
        row.recon = sums[1] / n + logScaleSum_;
        row.kl = sums[2] / n;
        if (writer_) {
            torch::NoGradGuard guard;
            if (group_) torch::manual_seed(mixSeed(epochSeed, 0x7a1d, 0));  // independent of the ranks' pieces
            auto v = modelLoss(model, val_, beta);
            row.valTotal = v[0].item<double>() + logScaleSum_;
            row.valRecon = v[1].item<double>() + logScaleSum_;
            row.valKl = v[2].item<double>();
        }
        row.samplesPerSecond = n / seconds;
        return row;
    }

    std::array<double, 3> priorEpoch(torch::jit::Module& model, torch::optim::Adam& optimizer, uint64_t epochSeed) {
        auto start = std::chrono::steady_clock::now();
        int64_t n = train_.size(0);
        auto shuffled = shuffledTrainingData(epochSeed);
        auto method = model.get_method("prior_fit_loss");
        double sum = 0;
        for (int64_t b = 0; b < n; b += config_.batch) {
            int64_t size = std::min<int64_t>(config_.batch, n - b);
            if (group_) {
                auto means = group_->step(
                    shuffled.narrow(0, b, size), [&](int piece) { return mixSeed(epochSeed, 0xd157 + b, piece); },
                    [&](const torch::Tensor& rows) { return std::vector<torch::Tensor>{method({rows}).toTensor()}; },
                    optimizer);
                sum += means[0] * size;
                continue;
            }
            auto loss = method({shuffled.narrow(0, b, size)}).toTensor();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            sum += loss.item<double>() * size;
        }
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        double val = 0;
        if (writer_) {
            torch::NoGradGuard guard;
            if (group_) torch::manual_seed(mixSeed(epochSeed, 0x7a1d, 0));
            val = method({val_}).toTensor().item<double>();
        }
        return {sum / n, val, n / seconds};
    }

    void printRow(const Stage& stage, const EpochLosses& r, int total) {
        std::ostringstream s;
        s << tag(stage) << "epoch " << (r.epoch + 1) << "/" << config_.epochs << "  beta " << std::setprecision(4)
          << r.beta << std::fixed << std::setprecision(4) << "  loss " << r.total << " (recon " << r.recon << ", kl "
          << r.kl << ")  val " << r.valTotal << " (recon " << r.valRecon << ", kl " << r.valKl << ")  "
          << std::setprecision(0) << r.samplesPerSecond << " samples/s\n";
        log_ << s.str() << std::flush;
        (void)total;
    }

    void writePriorCsv(const std::string& dir, const std::vector<std::array<double, 3>>& rows) {
        std::ostringstream s;
        s << "epoch,loss,val_loss\n" << std::setprecision(10);
        for (const auto& r : rows) s << int(r[0]) << ',' << r[1] << ',' << r[2] << '\n';
        writeFileAtomically(dir + "/prior_losses.csv", s.str());
    }

    nlohmann::json stageConfig(const Stage& stage) const {
        nlohmann::json j = config_.toJson();
        j["replica"] = replica_;
        j["replica_seed"] = seed_;
        j["stage"] = {{"beta", stage.beta}, {"name", stage.name}, {"from_beta", stage.fromBeta},
                      {"fresh_model", stage.fresh}, {"prior_fit", stage.priorFit}};
        return j;
    }

    void exportBundle(const torch::jit::Module& model, const Stage& stage, const std::string& dir,
                      const std::vector<EpochLosses>& rows, const std::vector<std::array<double, 3>>& priorRows) {
        const FeatureSpec& f = dataset_.features;
        nlohmann::json meta;
        meta["format_version"] = 1;
        meta["atoms"] = f.atoms;
        meta["latent"] = config_.latent;
        meta["features"] = f.toJson();
        meta["standardization"] = {{"mean", standardization_.mean}, {"scale", standardization_.scale}};
        meta["architecture"] = {{"hidden", config_.hidden},
                                {"flow_hidden", config_.flowHidden},
                                {"decoder", config_.decoder},
                                {"num_features", f.numFeatures()},
                                {"latent", config_.latent},
                                {"encoder_activation", "relu"},
                                {"decoder_activation", "tanh"}};
        meta["temperature"] = dataset_.temperature ? nlohmann::json(*dataset_.temperature) : nlohmann::json(nullptr);
        meta["beta"] = stage.beta;
        nlohmann::json prov;
        if (!dataset_.system.empty()) {
            prov["system"] = dataset_.system;
            prov["samples"] = dataset_.data.size(0);
            prov["data_seed"] = config_.seed;
        } else {
            prov["data"] = fs::absolute(dataset_.source).string();
        }
        prov["seed"] = seed_;
        prov["replica"] = replica_;
        prov["epochs"] = config_.epochs;
        prov["anneal"] = config_.anneal;
        prov["from_beta"] = stage.fromBeta;
        prov["fresh_model"] = stage.fresh;
        if (stage.priorFit) prov["prior_epochs"] = config_.priorEpochs;
        if (!rows.empty()) {
            const auto& r = rows.back();
            prov["final_losses"] = {{"total", r.total},         {"recon", r.recon},         {"kl", r.kl},
                                    {"val_total", r.valTotal}, {"val_recon", r.valRecon}, {"val_kl", r.valKl}};
        }
        if (!priorRows.empty()) prov["final_prior_loss"] = {{"loss", priorRows.back()[1]}, {"val_loss", priorRows.back()[2]}};
        prov["date"] = isoDate();
        prov["trainer"] = "openmm-vae train";
        meta["provenance"] = prov;
        auto bundle = makeBundle(model, f, standardization_);
        saveBundle(bundle, meta, dir + "/model.pt");
        if (!config_.quiet) log_ << tag(stage) << "wrote " << dir << "/model.pt\n" << std::flush;
    }

    const TrainConfig& config_;
    const Dataset& dataset_;
    int replica_;
    std::ostream& log_;
    uint64_t seed_;
    std::vector<Stage> stages_;
    torch::Device device_{torch::kCPU};
    torch::Dtype dtype_;
    Standardization standardization_;
    double logScaleSum_ = 0;
    torch::Tensor train_, val_;
    ModelConfig modelConfig_;
    int& epochsRun_;
    DataParallelGroup* group_;  ///< null: one process
    bool writer_;               ///< writes the outputs (rank 0 of a data-parallel run)
};

} // namespace

double annealedBeta(double from, double to, int epoch, int annealEpochs) {
    if (annealEpochs <= 1 || epoch >= annealEpochs) return epoch >= annealEpochs || annealEpochs <= 1 ? to : from;
    return from + (to - from) * static_cast<double>(epoch) / static_cast<double>(annealEpochs - 1);
}

std::vector<Stage> planStages(const std::vector<std::string>& betas) {
    if (betas.empty()) throw std::invalid_argument("--betas: at least one beta is needed");
    std::vector<Stage> stages;
    std::vector<std::string> seen;
    for (const auto& text : betas) {
        Stage s;
        s.name = text;
        size_t used = 0;
        try {
            s.beta = std::stod(text, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != text.size() || !std::isfinite(s.beta))
            throw std::invalid_argument("--betas: '" + text + "' is not a number");
        if (s.beta < 0) throw std::invalid_argument("--betas: beta " + text + " is negative");
        if (std::find(seen.begin(), seen.end(), text) != seen.end())
            throw std::invalid_argument("--betas: beta " + text + " appears twice (each names its output folder)");
        seen.push_back(text);
        if (s.beta == 0.0) {
            s.fresh = true;
            s.priorFit = true;
            s.fromBeta = 0.0;
        } else if (stages.empty() || stages.back().beta == 0.0) {
            s.fresh = true;
            s.fromBeta = 0.0;
        } else {
            s.fromBeta = stages.back().beta;
        }
        stages.push_back(s);
    }
    return stages;
}

void TrainConfig::validate() const {
    std::vector<std::string> sources;
    if (!system.empty()) sources.push_back("--system");
    if (!data.empty()) sources.push_back("--data");
    if (!trajectory.empty()) sources.push_back("--trajectory");
    if (sources.empty()) throw std::invalid_argument("give one of --system NAME, --data FILE.npy or --trajectory FILE.dcd");
    if (sources.size() == 2) throw std::invalid_argument("give either " + sources[0] + " or " + sources[1] + ", not both");
    if (sources.size() == 3) throw std::invalid_argument("give only one of --system, --data and --trajectory");
    if (!system.empty()) makeSystem(system);  // throws for an unknown system
    if (!trajectory.empty()) {
        if (topology.empty()) throw std::invalid_argument("--trajectory needs --topology FILE.pdb");
        if (features != "cartesian" && features != "bat" && features != "positions")
            throw std::invalid_argument("--features with --trajectory must be cartesian, bat or positions, not '" + features + "'");
        if (!periodic.empty()) throw std::invalid_argument("--periodic describes --data columns; trajectory features set it");
        if (constraints != "hbonds" && constraints != "none")
            throw std::invalid_argument("--constraints must be hbonds or none, not '" + constraints + "'");
    } else if (!topology.empty()) {
        throw std::invalid_argument("--topology goes with --trajectory");
    }
    static const std::vector<std::string> decoders = {"mse", "condind", "autoregressive", "flow"};
    if (std::find(decoders.begin(), decoders.end(), decoder) == decoders.end())
        throw std::invalid_argument("unknown decoder '" + decoder + "' (known decoders: mse, condind, autoregressive, flow)");
    if (trajectory.empty() && features != "xy" && features != "polar" && features != "positions")
        throw std::invalid_argument(features == "cartesian" || features == "bat"
                                        ? "features '" + features + "' are computed from a trajectory: use --trajectory and --topology"
                                        : "unknown feature kind '" + features + "' (known: xy, polar, positions, cartesian, bat)");
    if (!system.empty() && (!periodic.empty() || !atoms.empty()))
        throw std::invalid_argument("--periodic and --atoms describe external data (--data); built-in systems set them");
    if (latent < 1) throw std::invalid_argument("--latent must be at least 1");
    if (hidden < 1 || flowHidden < 1) throw std::invalid_argument("--hidden and --flow-hidden must be positive");
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
    nlohmann::json j;
    if (!system.empty()) {
        j["system"] = system;
        j["samples"] = samples;
    } else if (!trajectory.empty()) {
        j["trajectory"] = trajectory;
        j["topology"] = topology;
        j["features"] = features;
        j["atoms"] = atoms.empty() ? nlohmann::json(atomSelection) : nlohmann::json(atoms);
        if (features == "bat") j["constraints"] = constraints;
        j["temperature"] = temperature ? nlohmann::json(*temperature) : nlohmann::json(nullptr);
    } else {
        j["data"] = data;
        j["features"] = features;
        j["periodic"] = periodic;
        j["atoms"] = atoms;
        j["temperature"] = temperature ? nlohmann::json(*temperature) : nlohmann::json(nullptr);
    }
    j["decoder"] = decoder;
    j["latent"] = latent;
    j["hidden"] = hidden;
    j["flow-hidden"] = flowHidden;
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

void configureJit() {
    // The simple executor runs each TorchScript graph as written: no profiling runs, no graph
    // rewriting after warm-up. A profiled graph is optimised after its first runs, which changes
    // float results in the last bits, so a resumed run (a new process, warming up again) would drift
    // from an uninterrupted one. VAE_JIT=profiling restores LibTorch's default (for measurements).
    const char* mode = std::getenv("VAE_JIT");
    if (mode && std::string(mode) == "profiling") return;
    torch::jit::getProfilingMode() = false;
    torch::jit::getExecutorMode() = false;
    torch::jit::setGraphExecutorOptimize(false);
}

void setThreads(int n) {
    // Measurement knobs: VAE_TORCH_THREADS / VAE_BLAS_THREADS override the two pools separately.
    // LibTorch's intra-op pool (OpenMP) stays at one thread: with two, GOMP's spin-waiting made
    // training 10-20x slower whenever other processes shared the two cores, and the element-wise
    // ops of these models are too small to gain from it. The matrix products run in OpenBLAS with n.
    int torchThreads = 1, blasThreads = n;
    if (const char* v = std::getenv("VAE_TORCH_THREADS")) torchThreads = std::max(1, std::atoi(v));
    if (const char* v = std::getenv("VAE_BLAS_THREADS")) blasThreads = std::max(1, std::atoi(v));
    at::set_num_threads(torchThreads);
    using SetThreads = void (*)(int);
    if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(blasThreads);
}

Dataset loadDataset(const TrainConfig& config, uint64_t seed) {
    if (!config.system.empty()) return systemDataset(config.system, config.samples, seed);
    if (!config.trajectory.empty()) {
        TrajectoryOptions o;
        o.trajectory = config.trajectory;
        o.topology = config.topology;
        o.features = config.features;
        o.atomSelection = config.atomSelection;
        o.atoms = config.atoms;
        o.constraints = config.constraints;
        o.temperature = config.temperature;
        return trajectoryDataset(o);
    }
    return npyDataset(config.data, config.features, config.periodic, config.atoms, config.temperature);
}

torch::jit::Module train(const TrainConfig& config, std::ostream& log, DataParallelGroup* group) {
    config.validate();
    setThreads(config.threads);
    configureJit();
    // The output folder must be writable before any work starts (by the rank that writes it).
    if (!group || group->rank() == 0) try {
        fs::create_directories(config.out);
        std::string probe = config.out + "/.write-test-" + std::to_string(::getpid());
        std::ofstream test(probe);
        if (!test) throw std::runtime_error("not writable");
        test.close();
        fs::remove(probe);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot write to the output folder '" + config.out + "': " + e.what());
    }
    if (config.resume) {
        bool any = false;
        for (int r = 0; r < config.replicas; r++)
            if (fs::exists(replicaDirectory(config, r) + "/checkpoint.pt")) any = true;
        if (!any && !fs::exists(stageDirectory(config, 0, config.betas.front()) + "/losses.csv"))
            throw std::runtime_error("--resume: no checkpoint in '" + config.out + "': nothing to resume");
    }
    Dataset dataset = loadDataset(config, config.seed);
    if (group)  // every rank must have read the same data (a file can differ between machines)
        group->requireSame("data", {{"samples", dataset.data.size(0)},
                                    {"features", dataset.data.size(1)},
                                    {"sum", dataset.data.to(torch::kFloat64).sum().item<double>()}});
    if (!config.quiet)
        log << "data: " << dataset.source << "  " << dataset.data.size(0) << " samples x " << dataset.data.size(1)
            << " features (" << dataset.features.kind << ")\n";
    torch::jit::Module last;
    int epochsRun = 0;
    for (int r = 0; r < config.replicas; r++) {
        ReplicaRun run(config, dataset, r, log, epochsRun, group);
        last = run.run();
    }
    return last;
}

} // namespace VAEPlugin
