#include "SweepCommand.h"

#include "AtomicFile.h"
#include "CommandRunner.h"
#include "NumberText.h"
#include "Systems.h"
#include "TrainCommand.h"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

namespace fs = std::filesystem;

namespace VAEPlugin {

namespace {

std::string shellQuote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/** Settings without the job-set keys (decoders and replicas may grow between runs of one folder). */
nlohmann::json withoutJobSet(nlohmann::json j) {
    j.erase("decoders");
    j.erase("replicas");
    return j;
}

/** Runs the plotter (python -m openmmvae.apps.plots sweep OUT); false with a warning on failure. */
bool runPlotter(const SweepOptions& o, std::ostream& log) {
    if (!fs::exists(o.python)) {
        log << "[sweep] warning: no plots: " << o.python << " does not exist\n";
        return false;
    }
    std::string py = shellQuote(o.python);
    if (std::system((py + " -c 'import matplotlib, openmmvae.apps.plots' >/dev/null 2>&1").c_str()) != 0) {
        log << "[sweep] warning: no plots: " << o.python << " cannot import matplotlib and openmmvae.apps.plots\n";
        return false;
    }
    std::string command = py + " -m openmmvae.apps.plots sweep " + shellQuote(o.out);
    log << "[sweep] plotting: " << command << "\n" << std::flush;
    int rc = std::system(command.c_str());
    if (rc != 0) {
        log << "[sweep] warning: the plotter failed (status " << rc << "); the tables are complete\n";
        return false;
    }
    return true;
}

} // namespace

void SweepOptions::validate() const {
    if (system.empty()) throw std::invalid_argument("--system is required (one of the built-in systems)");
    makeSystem(system);  // names the known systems when unknown
    if (out.empty()) throw std::invalid_argument("--out is required");
    if (decoders.empty()) throw std::invalid_argument("--decoders is empty: give at least one of " + decoderKindNames());
    std::set<DecoderKind> seen;
    for (DecoderKind d : decoders) {
        if (!seen.insert(d).second)
            throw std::invalid_argument(std::string("decoder '") + decoderKindName(d) + "' is listed twice in --decoders");
    }
    if (train.betas.empty()) throw std::invalid_argument("--betas is empty: give at least one beta");
    std::set<std::string> betaNames(train.betas.begin(), train.betas.end());
    if (betaNames.size() != train.betas.size())
        throw std::invalid_argument("--betas lists a beta twice (each names one output folder)");
    if (replicas < 1) throw std::invalid_argument("--replicas must be at least 1, got " + std::to_string(replicas));
    if (chains < 1) throw std::invalid_argument("--chains must be at least 1");
    if (moves < 0) throw std::invalid_argument("--moves must be >= 0");
    if (plotSamples < 1) throw std::invalid_argument("--plot-samples must be at least 1");
    if (shardCount < 1 || shardIndex < 0 || shardIndex >= shardCount)
        throw std::invalid_argument("--shard K/N needs 0 <= K < N, got " + std::to_string(shardIndex) + "/" +
                                    std::to_string(shardCount));
    if (!train.data.empty()) throw std::invalid_argument("the sweep trains on built-in systems only (--system)");
    if (workers < 1) throw std::invalid_argument("--workers must be at least 1, got " + std::to_string(workers));
    if (!(claimTimeout > 0)) throw std::invalid_argument("--claim-timeout must be positive");
    // Every job's training settings must be valid (betas parse, epochs, anneal, ...).
    for (const auto& d : decoders) {
        SweepJob job{0, d, 0, out};
        sweepJobConfig(*this, job).validate();
    }
}

nlohmann::json SweepOptions::sharedSettings() const {
    nlohmann::json j = train.toJson();
    j.erase("decoder");
    j.erase("replicas");
    j.erase("device");
    j["system"] = system;
    j["decoders"] = nlohmann::json::array();
    for (DecoderKind d : decoders) j["decoders"].push_back(decoderKindName(d));
    j["replicas"] = replicas;
    j["chains"] = chains;
    j["moves"] = moves;
    j["plot-samples"] = plotSamples;
    return j;
}

nlohmann::json runSweepCommand(const SweepOptions& o, std::ostream& log) {
    o.validate();
    fs::create_directories(o.out);
    fs::path settingsPath = fs::path(o.out) / "sweep.json";
    nlohmann::json settings = o.sharedSettings();
    if (fs::exists(settingsPath)) {
        nlohmann::json before = readJsonFile(settingsPath.string());
        if (withoutJobSet(before) != withoutJobSet(settings))
            throw std::runtime_error("'" + o.out + "' holds a sweep with different settings:\n  there: " +
                                     withoutJobSet(before).dump() + "\n  now:   " + withoutJobSet(settings).dump() +
                                     "\n(use another --out)");
    }
    writeFileAtomically(settingsPath.string(), settings.dump(2) + "\n");

    if (!o.tablesOnly) {
        if (o.workers > 1)
            runSweepWorkers(o, log);
        else
            runSweepJobs(o, log);
    }
    if (o.worker) return nlohmann::json::array();  // the parent writes the tables
    nlohmann::json table = writeSweepTables(o, log);
    if (o.plots) runPlotter(o, log);
    return table;
}

void addSweepCommand(CLI::App& app, const TrainingMonitor* monitor) {
    auto o = std::make_shared<SweepOptions>();
    o->monitor = monitor;
    auto shard = std::make_shared<std::string>();
    auto noPlots = std::make_shared<bool>(false);
    auto decoders = std::make_shared<std::vector<std::string>>();
    for (DecoderKind d : o->decoders) decoders->push_back(decoderKindName(d));
    TrainConfig& t = o->train;
    CLI::App* sub = app.add_subcommand(
        "sweep", "Train decoders x betas x replicas on a built-in system; metrics, f_acc, tables and plots");
    sub->add_option("--system", o->system, "Built-in system (mueller, gaussian, bimodal, ...)")->required();
    sub->add_option("--decoders", *decoders, "Decoders, comma-separated")->delimiter(',')->capture_default_str();
    sub->add_option("--betas", t.betas, "Beta schedule of every chain (as in train)")->delimiter(',')->capture_default_str();
    sub->add_option("--replicas", o->replicas, "Replicas per decoder; replica r uses seed + r")->capture_default_str();
    sub->add_option("--samples", t.samples, "Data set size")->capture_default_str();
    sub->add_option("--epochs", t.epochs, "Epochs per beta")->capture_default_str();
    sub->add_option("--anneal", t.anneal, "Annealing epochs per beta")->capture_default_str();
    sub->add_option("--prior-epochs", t.priorEpochs, "Prior-only epochs after beta = 0")->capture_default_str();
    sub->add_option("--latent", t.latent, "Latent dimension L")->capture_default_str();
    sub->add_option("--hidden", t.hidden, "Encoder/decoder width")->capture_default_str();
    sub->add_option("--flow-hidden", t.flowHidden, "Width of the prior's conditioners")->capture_default_str();
    sub->add_option("--batch", t.batch, "Batch size")->capture_default_str();
    sub->add_option("--learning-rate", t.learningRate, "Adam learning rate")->capture_default_str();
    sub->add_option("--validation", t.validation, "Fraction held out")->capture_default_str();
    sub->add_option("--seed", t.seed, "Base seed")->capture_default_str();
    sub->add_option("--dtype", t.dtype, "Training precision: float32 | float64")->capture_default_str();
    sub->add_option("--threads", t.threads, "CPU threads (as in train)")->capture_default_str();
    sub->add_option("--chains", o->chains, "VAE-MC chains per bundle (f_acc)")->capture_default_str();
    sub->add_option("--moves", o->moves, "VAE-MC moves per chain (0: no f_acc)")->capture_default_str();
    sub->add_option("--plot-samples", o->plotSamples, "Rows of data.npy / latent_mean.npy per bundle")->capture_default_str();
    sub->add_option("--out", o->out, "Output folder")->required();
    sub->add_option("--shard", *shard, "K/N: run only the jobs j (0-based) with j % N == K");
    sub->add_flag("--tables-only", o->tablesOnly, "Train nothing; tables (and plots) of the done jobs");
    sub->add_option("--workers", o->workers,
                     "Local worker processes sharing the jobs (more sweep processes, also on other machines, may "
                     "point at the same --out)")
        ->capture_default_str();
    sub->add_flag("--worker", o->worker, "Run jobs only, no tables or plots (how --workers starts its processes)");
    sub->add_option("--claim-timeout", o->claimTimeout,
                    "Seconds without a heartbeat after which a job of a worker on another host is taken over")
        ->capture_default_str();
    sub->add_flag("--no-plots", *noPlots, "Do not call the plotter");
    sub->add_option("--python", o->python, "Python interpreter of the plotter")->capture_default_str();
    sub->callback([o, shard, noPlots, decoders]() {
        runCommand("sweep", 1, [&]() {
            SweepOptions opts = *o;
            if (opts.monitor && opts.workers > 1)
                throw std::invalid_argument("--workers " + std::to_string(opts.workers) +
                                            ": in-process sweeps (the Python API) run one worker; start several "
                                            "with the openmm-vae sweep command, or call sweep in several processes "
                                            "on one output folder");
            opts.plots = !*noPlots;
            opts.decoders.clear();
            for (const auto& d : *decoders) opts.decoders.push_back(decoderKindOf(d, "--decoders"));
            if (!shard->empty()) {
                auto slash = shard->find('/');
                std::optional<int> index, count;
                if (slash != std::string::npos) {
                    index = parseInteger(shard->substr(0, slash));
                    count = parseInteger(shard->substr(slash + 1));
                }
                if (!index || !count) throw std::invalid_argument("--shard expects K/N (e.g. 0/4), got '" + *shard + "'");
                opts.shardIndex = *index;
                opts.shardCount = *count;
            }
            runSweepCommand(opts, std::cout);
            return 0;
        });
    });
}

} // namespace VAEPlugin
