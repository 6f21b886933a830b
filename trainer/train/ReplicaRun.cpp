#include "ReplicaRun.h"

#include "AtomicFile.h"
#include "BundleWriter.h"
#include "Checkpoint.h"
#include "DataParallelGroup.h"
#include "Training.h"
#include "VAEModelBuilder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>

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

std::vector<torch::Tensor> parameterList(const torch::jit::Module& m) {
    std::vector<torch::Tensor> out;
    for (const auto& p : m.parameters(true)) out.push_back(p);
    return out;
}

/** Batch-mean losses (total, recon, kl) of the model's loss method. */
std::array<torch::Tensor, 3> modelLoss(torch::jit::Module& model, const torch::Tensor& x, double beta) {
    auto out = model.get_method("loss")({x, beta}).toTuple();
    return {out->elements()[0].toTensor(), out->elements()[1].toTensor(), out->elements()[2].toTensor()};
}

} // namespace

ReplicaRun::ReplicaRun(const TrainConfig& config, const Dataset& dataset, int replica, std::ostream& log, int& epochsRun,
                       DataParallelGroup* group, const TrainingMonitor* monitor)
    : config_(config), dataset_(dataset), replica_(replica), log_(log), epochsRun_(epochsRun), group_(group),
      writer_(!group || group->rank() == 0), monitor_(monitor) {
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
    modelConfig_.multiplicity = dataset.features.multiplicity;  // rotors of bat features (--rotors)
    modelConfig_.latent = config.latent;
    modelConfig_.hidden = config.hidden;
    modelConfig_.flowHidden = config.flowHidden;
    modelConfig_.decoder = config.decoder;
    modelConfig_.mixtureComponents = config.mixture;
}

torch::jit::Module ReplicaRun::run() {
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
        cp = readCheckpoint(checkpointPath);
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
            optimized = prior ? parameterList(model.attr(BundleSchema::Model::kPrior).toModule()) : parameterList(model);
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
            EpochProgress done;  // this epoch's numbers, for the monitor
            done.prior = priorPhase;
            if (!priorPhase) {
                double beta = annealedBeta(stage.fromBeta, stage.beta, epoch, config_.anneal);
                EpochLosses row = trainEpoch(model, *optimizer, beta, epochSeed);
                row.epoch = epoch;
                cp.rows.push_back(row);
                done.beta = beta;
                done.loss = row.total;
                done.validationLoss = row.valTotal;
                done.samplesPerSecond = row.samplesPerSecond;
                if (writer_) writeFileAtomically(stageDir + "/losses.csv", lossesCsv(cp.rows));
                if (!config_.quiet) printRow(stage, row, total);
            } else {
                stopIfRequested();
                auto pr = priorEpoch(model, *optimizer, epochSeed);
                cp.priorRows.push_back({double(epoch - config_.epochs), pr[0], pr[1]});
                done.beta = stage.beta;
                done.loss = pr[0];
                done.validationLoss = pr[1];
                done.samplesPerSecond = pr[2];
                if (writer_) writeFileAtomically(stageDir + "/prior_losses.csv", priorLossesCsv(cp.priorRows));
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
            reportEpoch(s, epoch, done);
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

void ReplicaRun::reportEpoch(int stageIndex, int epoch, EpochProgress p) const {
    if (!monitor_ || !monitor_->epochDone) return;
    auto stageEpochs = [&](const Stage& st) { return config_.epochs + (st.priorFit ? config_.priorEpochs : 0); };
    long long perReplica = 0, before = 0;
    for (int k = 0; k < static_cast<int>(stages_.size()); k++) {
        perReplica += stageEpochs(stages_[k]);
        if (k < stageIndex) before += stageEpochs(stages_[k]);
    }
    p.replica = replica_;
    p.replicas = config_.replicas;
    p.stage = stages_[stageIndex].name;
    p.stageIndex = stageIndex;
    p.stages = static_cast<int>(stages_.size());
    p.epoch = epoch + 1;
    p.epochs = stageEpochs(stages_[stageIndex]);
    p.runEpochs = perReplica * config_.replicas;
    p.runEpochsDone = perReplica * replica_ + before + epoch + 1;
    monitor_->epochDone(p);
}

void ReplicaRun::stopIfRequested() const {
    if (monitor_ && monitor_->stopRequested && monitor_->stopRequested())
        throw StoppedEarly("interrupted after " + std::to_string(epochsRun_) + " epochs of this process; the checkpoint in " +
                           config_.out + " resumes it (--resume)");
}

std::string ReplicaRun::tag(const Stage& stage) const {
    std::string t = "[";
    if (config_.replicas > 1) t += "replica-" + std::to_string(replica_) + " ";
    return t + "beta-" + stage.name + "] ";
}

bool ReplicaRun::allStagesDone() const {
    for (const auto& st : stages_)
        if (!fs::exists(stageDirectory(config_, replica_, st.name) + "/model.pt")) return false;
    return true;
}

torch::jit::Module ReplicaRun::loadFinalModel() const {
    auto bundle = torch::jit::load(stageDirectory(config_, replica_, stages_.back().name) + "/model.pt");
    return bundle.attr(BundleSchema::Attribute::kModel).toModule();
}

torch::Tensor ReplicaRun::shuffledTrainingData(uint64_t epochSeed) const {
    std::vector<int64_t> order(train_.size(0));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(epochSeed);
    std::shuffle(order.begin(), order.end(), rng);
    return train_.index_select(0, torch::tensor(order, torch::kInt64).to(device_));
}

EpochLosses ReplicaRun::trainEpoch(torch::jit::Module& model, torch::optim::Adam& optimizer, double beta, uint64_t epochSeed) {
    auto start = std::chrono::steady_clock::now();
    int64_t n = train_.size(0);
    auto shuffled = shuffledTrainingData(epochSeed);
    double sums[3] = {0, 0, 0};
    for (int64_t b = 0; b < n; b += config_.batch) {
        stopIfRequested();
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

std::array<double, 3> ReplicaRun::priorEpoch(torch::jit::Module& model, torch::optim::Adam& optimizer, uint64_t epochSeed) {
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

void ReplicaRun::printRow(const Stage& stage, const EpochLosses& r, int total) {
    std::ostringstream s;
    s << tag(stage) << "epoch " << (r.epoch + 1) << "/" << config_.epochs << "  beta " << std::setprecision(4)
      << r.beta << std::fixed << std::setprecision(4) << "  loss " << r.total << " (recon " << r.recon << ", kl "
      << r.kl << ")  val " << r.valTotal << " (recon " << r.valRecon << ", kl " << r.valKl << ")  "
      << std::setprecision(0) << r.samplesPerSecond << " samples/s\n";
    log_ << s.str() << std::flush;
    (void)total;
}

nlohmann::json ReplicaRun::stageConfig(const Stage& stage) const {
    nlohmann::json j = config_.toJson();
    j["replica"] = replica_;
    j["replica_seed"] = seed_;
    if (group_)  // which process wrote this, of how many, and how the batches were cut
        j["data_parallel"] = {{"rank", group_->rank()},
                              {"world_size", group_->worldSize()},
                              {"micro_batches", group_->microBatches()},
                              {"single_process", group_->options().singleProcess}};
    j["stage"] = {{"beta", stage.beta}, {"name", stage.name}, {"from_beta", stage.fromBeta},
                  {"fresh_model", stage.fresh}, {"prior_fit", stage.priorFit}};
    return j;
}

void ReplicaRun::exportBundle(const torch::jit::Module& model, const Stage& stage, const std::string& dir,
                              const std::vector<EpochLosses>& rows, const std::vector<PriorEpochLosses>& priorRows) {
    namespace P = BundleSchema::Provenance;
    namespace Loss = BundleSchema::Loss;
    BundleContents bundle;
    bundle.model = model;
    bundle.features = dataset_.features;
    bundle.featureMean = standardization_.mean;
    bundle.featureScale = standardization_.scale;
    bundle.latent = config_.latent;
    bundle.architecture = {config_.hidden, config_.flowHidden, config_.decoder, modelConfig_.mixtureComponents,
                           modelConfig_.multiplicity};
    bundle.temperature = dataset_.temperature;
    bundle.beta = stage.beta;
    nlohmann::json& prov = bundle.provenance;
    if (!dataset_.system.empty()) {
        prov[P::kSystem] = dataset_.system;
        prov[P::kSamples] = dataset_.data.size(0);
        prov[P::kDataSeed] = config_.seed;
    } else {
        prov[P::kData] = fs::absolute(dataset_.source).string();
    }
    prov[P::kSeed] = seed_;
    prov[P::kReplica] = replica_;
    prov[P::kEpochs] = config_.epochs;
    prov[P::kAnneal] = config_.anneal;
    prov[P::kFromBeta] = stage.fromBeta;
    prov[P::kFreshModel] = stage.fresh;
    if (stage.priorFit) prov[P::kPriorEpochs] = config_.priorEpochs;
    if (!rows.empty()) {
        const auto& r = rows.back();
        prov[P::kFinalLosses] = {{Loss::kTotal, r.total},         {Loss::kRecon, r.recon},         {Loss::kKl, r.kl},
                                 {Loss::kValTotal, r.valTotal}, {Loss::kValRecon, r.valRecon}, {Loss::kValKl, r.valKl}};
    }
    if (!priorRows.empty())
        prov[P::kFinalPriorLoss] = {{Loss::kLoss, priorRows.back()[1]}, {Loss::kValLoss, priorRows.back()[2]}};
    prov[P::kDate] = utcTimestamp();
    prov[P::kTrainer] = "openmm-vae train";
    // Written whole or not at all: a killed run never leaves a half-written model.pt.
    std::string path = dir + "/model.pt";
    writeFileAtomically(path, [&](const std::string& temporaryPath) { writeBundle(bundle, temporaryPath); });
    if (!config_.quiet) log_ << tag(stage) << "wrote " << path << "\n" << std::flush;
}

} // namespace VAEPlugin
