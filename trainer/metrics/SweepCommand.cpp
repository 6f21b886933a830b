#include "SweepCommand.h"

#include "AtomicFile.h"
#include "Metrics.h"
#include "MetricsCommand.h"
#include "Npy.h"
#include "JobClaim.h"
#include "Systems.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace VAEPlugin {

namespace {

const std::vector<std::string> kDecoders = {"mse", "condind", "autoregressive", "flow"};

/** The tabulated quantities: column name and where it is in metrics.json. */
struct Quantity {
    std::string column;
    std::vector<std::string> path;
};
const std::vector<Quantity>& tableQuantities() {
    static const std::vector<Quantity> q = {
        {"jd_encode_total", {"jd_encode_total"}},
        {"active_dims", {"active_dims"}},
        {"jd_prior", {"jd_prior"}},
        {"total_correlation", {"total_correlation"}},
        {"f_acc", {"f_acc"}},
        {"loss_total", {"final_losses", "total"}},
        {"loss_recon", {"final_losses", "recon"}},
        {"loss_kl", {"final_losses", "kl"}},
        {"val_loss_total", {"final_losses", "val_total"}},
    };
    return q;
}

void writeTextAtomically(const fs::path& path, const std::string& text) { writeFileAtomically(path.string(), text); }

nlohmann::json readJson(const fs::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read '" + path.string() + "'");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path.string() + ": " + e.what());
    }
}

std::string isoNow() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

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

std::string formatNumber(double v, int precision = 4) {
    if (!std::isfinite(v)) return "";
    std::ostringstream s;
    s << std::setprecision(precision) << v;
    return s.str();
}

} // namespace

void SweepOptions::validate() const {
    if (system.empty()) throw std::invalid_argument("--system is required (one of the built-in systems)");
    makeSystem(system);  // names the known systems when unknown
    if (out.empty()) throw std::invalid_argument("--out is required");
    if (decoders.empty()) throw std::invalid_argument("--decoders is empty: give at least one of mse, condind, autoregressive, flow");
    std::set<std::string> seen;
    for (const auto& d : decoders) {
        if (std::find(kDecoders.begin(), kDecoders.end(), d) == kDecoders.end())
            throw std::invalid_argument("unknown decoder '" + d + "' in --decoders (known: mse, condind, autoregressive, flow)");
        if (!seen.insert(d).second) throw std::invalid_argument("decoder '" + d + "' is listed twice in --decoders");
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
    j["decoders"] = decoders;
    j["replicas"] = replicas;
    j["chains"] = chains;
    j["moves"] = moves;
    j["plot-samples"] = plotSamples;
    return j;
}

std::vector<SweepJob> planSweepJobs(const SweepOptions& o) {
    std::vector<SweepJob> jobs;
    for (const auto& d : o.decoders)
        for (int r = 0; r < o.replicas; r++) {
            SweepJob j;
            j.index = static_cast<int>(jobs.size());
            j.decoder = d;
            j.replica = r;
            j.directory = (fs::path(o.out) / d / ("replica-" + std::to_string(r))).string();
            jobs.push_back(j);
        }
    return jobs;
}

TrainConfig sweepJobConfig(const SweepOptions& o, const SweepJob& job) {
    TrainConfig c = o.train;
    c.system = o.system;
    c.data.clear();
    c.decoder = job.decoder;
    c.replicas = 1;
    c.seed = o.train.seed + static_cast<uint64_t>(job.replica);
    c.out = job.directory;
    c.quiet = true;
    c.stopAfter = -1;
    c.resume = false;
    return c;
}

bool sweepJobDone(const SweepJob& job) { return fs::exists(fs::path(job.directory) / "done.json"); }

void runSweepJob(const SweepOptions& o, const SweepJob& job, std::ostream& log) {
    auto start = std::chrono::steady_clock::now();
    TrainConfig c = sweepJobConfig(o, job);
    fs::path dir(job.directory);
    // Resume an interrupted chain; a finished one (all bundles, no checkpoint) is not retrained.
    bool allBundles = true;
    for (const auto& b : c.betas)
        if (!fs::exists(dir / ("beta-" + b) / "model.pt")) allBundles = false;
    c.resume = fs::exists(dir / "checkpoint.pt") || (allBundles && !fs::exists(dir / "checkpoint.pt"));
    if (!c.resume && fs::exists(dir)) {
        // Leftovers of a chain interrupted before its first checkpoint: start it again.
        for (const auto& b : c.betas) fs::remove_all(dir / ("beta-" + b));
    }
    train(c, log);
    double trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // The job's data set, as train() generated it, and a fixed subsample for the plots.
    auto system = makeSystem(o.system);
    torch::Tensor data = system->sample(c.samples, c.seed);
    int64_t m = std::min<int64_t>(o.plotSamples, data.size(0));
    auto gen = at::detail::createCPUGenerator(c.seed);
    torch::Tensor rows = std::get<0>(torch::randperm(data.size(0), gen, torch::kLong).narrow(0, 0, m).sort());
    torch::Tensor subsample = data.index_select(0, rows).contiguous();

    nlohmann::json bundles = nlohmann::json::array();
    std::ostringstream quiet;
    for (const auto& b : c.betas) {
        fs::path stage = dir / ("beta-" + b);
        MetricsCommandOptions mo;
        mo.model = (stage / "model.pt").string();
        mo.system = o.system;
        mo.chains = o.chains;
        mo.moves = o.moves;
        mo.seed = c.seed;
        nlohmann::json metrics = runMetricsCommand(mo, quiet);
        torch::jit::Module bundle = torch::jit::load(mo.model);
        bundle.eval();
        torch::Tensor mu;
        {
            torch::NoGradGuard guard;
            mu = bundle.run_method("encode", subsample).toTuple()->elements()[0].toTensor();
        }
        writeNpy((stage / "data.npy").string(), subsample);
        writeNpy((stage / "latent_mean.npy").string(), mu.to(torch::kFloat64).contiguous());
        bundles.push_back((fs::path("beta-" + b) / "model.pt").string());
        log << "[sweep] " << job.decoder << " replica-" << job.replica << " beta " << b << ": JD_encode "
            << formatNumber(metrics["jd_encode_total"].get<double>()) << ", active dims " << metrics["active_dims"]
            << ", JD_prior " << formatNumber(metrics["jd_prior"].get<double>()) << ", TC "
            << formatNumber(metrics["total_correlation"].get<double>()) << ", f_acc "
            << (metrics["f_acc"].is_null() ? std::string("-") : formatNumber(metrics["f_acc"].get<double>())) << "\n"
            << std::flush;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json marker = {{"decoder", job.decoder},         {"replica", job.replica},
                             {"seed", c.seed},                 {"bundles", bundles},
                             {"train_seconds", trainSeconds},  {"seconds", seconds},
                             {"finished", isoNow()},           {"train_config", c.toJson()}};
    writeTextAtomically(dir / "done.json", marker.dump(2) + "\n");
}

nlohmann::json writeSweepTables(const SweepOptions& o, std::ostream& log) {
    const auto& quantities = tableQuantities();
    nlohmann::json table = nlohmann::json::array();
    auto jobs = planSweepJobs(o);
    for (const auto& d : o.decoders)
        for (const auto& b : o.train.betas) {
            std::vector<std::vector<double>> values(quantities.size());
            int n = 0;
            for (const auto& job : jobs) {
                if (job.decoder != d || !sweepJobDone(job)) continue;
                fs::path file = fs::path(job.directory) / ("beta-" + b) / "metrics.json";
                nlohmann::json m = readJson(file);
                n++;
                for (size_t k = 0; k < quantities.size(); k++) {
                    const nlohmann::json* v = &m;
                    for (const auto& key : quantities[k].path) {
                        if (!v->is_object() || !v->contains(key)) {
                            v = nullptr;
                            break;
                        }
                        v = &(*v)[key];
                    }
                    if (v && v->is_number()) values[k].push_back(v->get<double>());
                }
            }
            nlohmann::json row = {{"decoder", d}, {"beta", b}, {"replicas", n}};
            for (size_t k = 0; k < quantities.size(); k++) {
                const auto& x = values[k];
                double mean = NAN, sd = NAN;
                if (!x.empty()) {
                    mean = 0;
                    for (double v : x) mean += v;
                    mean /= x.size();
                }
                if (x.size() > 1) {
                    double ss = 0;
                    for (double v : x) ss += (v - mean) * (v - mean);
                    sd = std::sqrt(ss / (x.size() - 1));
                }
                row[quantities[k].column] = {{"mean", std::isfinite(mean) ? nlohmann::json(mean) : nlohmann::json()},
                                             {"std", std::isfinite(sd) ? nlohmann::json(sd) : nlohmann::json()},
                                             {"n", x.size()}};
            }
            table.push_back(row);
        }

    auto value = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
    std::ostringstream csv, md;
    csv << "decoder,beta,replicas";
    md << "| decoder | beta | n |";
    for (const auto& q : quantities) {
        csv << "," << q.column << "_mean," << q.column << "_std";
        md << " " << q.column << " |";
    }
    csv << "\n";
    md << "\n| --- | --- | --- |";
    for (size_t k = 0; k < quantities.size(); k++) md << " --- |";
    md << "\n";
    for (const auto& row : table) {
        csv << row["decoder"].get<std::string>() << "," << row["beta"].get<std::string>() << "," << row["replicas"];
        md << "| " << row["decoder"].get<std::string>() << " | " << row["beta"].get<std::string>() << " | "
           << row["replicas"] << " |";
        for (const auto& q : quantities) {
            double mean = value(row[q.column]["mean"]), sd = value(row[q.column]["std"]);
            csv << "," << formatNumber(mean, 10) << "," << formatNumber(sd, 10);
            if (!std::isfinite(mean))
                md << " - |";
            else if (!std::isfinite(sd))
                md << " " << formatNumber(mean, 3) << " |";
            else
                md << " " << formatNumber(mean, 3) << " ± " << formatNumber(sd, 2) << " |";
        }
        csv << "\n";
        md << "\n";
    }
    fs::path out(o.out);
    writeTextAtomically(out / "table.csv", csv.str());
    writeTextAtomically(out / "table.md", md.str());
    log << "[sweep] wrote " << (out / "table.csv").string() << " and " << (out / "table.md").string() << "\n";
    return table;
}

namespace {

#ifndef VAE_PLOTS_SCRIPT
#define VAE_PLOTS_SCRIPT ""
#endif

/** Runs the plotter (python -m openmmvae.plots, else the source tree's plots.py); false with a warning on failure. */
bool runPlotter(const SweepOptions& o, std::ostream& log) {
    if (!fs::exists(o.python)) {
        log << "[sweep] warning: no plots: " << o.python << " does not exist\n";
        return false;
    }
    std::string py = shellQuote(o.python);
    std::string command;
    if (std::system((py + " -c 'import matplotlib, openmmvae.plots' >/dev/null 2>&1").c_str()) == 0) {
        command = py + " -m openmmvae.plots sweep " + shellQuote(o.out);
    } else if (std::string(VAE_PLOTS_SCRIPT).size() > 0 && fs::exists(VAE_PLOTS_SCRIPT) &&
               std::system((py + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0) {
        command = py + " " + shellQuote(VAE_PLOTS_SCRIPT) + " sweep " + shellQuote(o.out);
    } else {
        log << "[sweep] warning: no plots: " << o.python << " cannot import matplotlib and openmmvae.plots\n";
        return false;
    }
    log << "[sweep] plotting: " << command << "\n" << std::flush;
    int rc = std::system(command.c_str());
    if (rc != 0) {
        log << "[sweep] warning: the plotter failed (status " << rc << "); the tables are complete\n";
        return false;
    }
    return true;
}

} // namespace

void runSweepJobs(const SweepOptions& o, std::ostream& log) {
    setThreads(o.train.threads);
    auto jobs = planSweepJobs(o);
    int total = static_cast<int>(jobs.size());
    std::string who = o.worker ? " (worker " + std::to_string(::getpid()) + ")" : "";
    bool firstPass = true;
    while (true) {
        bool pending = false;
        for (const auto& job : jobs) {
            if (job.index % o.shardCount != o.shardIndex) continue;
            std::string name = "job " + std::to_string(job.index + 1) + "/" + std::to_string(total) + " " + job.decoder +
                               " replica-" + std::to_string(job.replica);
            if (sweepJobDone(job)) {
                if (firstPass)
                    log << "[sweep] " << name << ": done before, skipped" << who << "\n" << std::flush;
                continue;
            }
            auto claim = JobClaim::tryClaim(job.directory, o.claimTimeout);
            if (!claim || sweepJobDone(job)) {  // held by a live worker, or finished just now
                pending = pending || !claim;
                continue;
            }
            log << "[sweep] " << name << ": training " << o.train.betas.size() << " betas" << who << "\n" << std::flush;
            auto t0 = std::chrono::steady_clock::now();
            runSweepJob(o, job, log);
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            log << "[sweep] " << name << ": finished in " << std::fixed << std::setprecision(1) << s << " s" << who << "\n"
                << std::defaultfloat << std::flush;
        }
        firstPass = false;
        if (!pending) break;
        // Jobs held by other workers: wait, and take over any whose worker dies.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(2000, int64_t(o.claimTimeout * 250))));
    }
}

namespace {

/** This process's arguments (/proc/self/cmdline) without --workers N, plus --worker. */
std::vector<std::string> workerArguments() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::vector<std::string> args;
    std::string a;
    while (std::getline(in, a, '\0')) args.push_back(a);
    std::vector<std::string> out;
    for (size_t i = 0; i < args.size(); i++) {
        if (args[i] == "--workers") {
            i++;
            continue;
        }
        if (args[i].rfind("--workers=", 0) == 0) continue;
        out.push_back(args[i]);
    }
    out.push_back("--worker");
    return out;
}

pid_t startWorker(const std::vector<std::string>& args) {
    std::cout << std::flush;
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        std::vector<std::string> a = args;
        std::vector<char*> argv;
        for (auto& s : a) argv.push_back(s.data());
        argv.push_back(nullptr);
        ::execv("/proc/self/exe", argv.data());
        std::fprintf(stderr, "openmm-vae sweep: cannot start a worker: %s\n", std::strerror(errno));
        ::_exit(127);
    }
    return pid;
}

} // namespace

void runSweepWorkers(const SweepOptions& o, std::ostream& log) {
    auto args = workerArguments();
    std::set<pid_t> running;
    for (int w = 0; w < o.workers; w++) running.insert(startWorker(args));
    log << "[sweep] started " << o.workers << " workers\n" << std::flush;
    int replacements = 0;
    std::string failure;
    while (!running.empty()) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (!running.erase(pid)) continue;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
        if (WIFSIGNALED(status) && failure.empty()) {
            // Killed (OOM, kill -9, ...): its job is taken over; a replacement keeps the worker count.
            log << "[sweep] worker " << pid << " killed by signal " << WTERMSIG(status) << "; its job will be redone"
                << (replacements < o.workers ? ", starting a replacement" : "") << "\n" << std::flush;
            if (replacements++ < o.workers) running.insert(startWorker(args));
            continue;
        }
        if (failure.empty()) {
            failure = "worker " + std::to_string(pid) + " failed (" +
                      (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                         : "signal " + std::to_string(WTERMSIG(status))) +
                      ")";
            for (pid_t p : running) ::kill(p, SIGTERM);
        }
    }
    if (!failure.empty()) throw std::runtime_error(failure + "; the other workers were stopped (re-run to resume)");
    // Workers killed after the replacements ran out leave jobs undone: run them here.
    runSweepJobs(o, log);
}

nlohmann::json runSweepCommand(const SweepOptions& o, std::ostream& log) {
    o.validate();
    fs::create_directories(o.out);
    fs::path settingsPath = fs::path(o.out) / "sweep.json";
    nlohmann::json settings = o.sharedSettings();
    if (fs::exists(settingsPath)) {
        nlohmann::json before = readJson(settingsPath);
        if (withoutJobSet(before) != withoutJobSet(settings))
            throw std::runtime_error("'" + o.out + "' holds a sweep with different settings:\n  there: " +
                                     withoutJobSet(before).dump() + "\n  now:   " + withoutJobSet(settings).dump() +
                                     "\n(use another --out)");
    }
    writeTextAtomically(settingsPath, settings.dump(2) + "\n");

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

void addSweepCommand(CLI::App& app) {
    auto o = std::make_shared<SweepOptions>();
    auto shard = std::make_shared<std::string>();
    auto noPlots = std::make_shared<bool>(false);
    TrainConfig& t = o->train;
    CLI::App* sub = app.add_subcommand(
        "sweep", "Train decoders x betas x replicas on a built-in system; metrics, f_acc, tables and plots");
    sub->add_option("--system", o->system, "Built-in system (mueller, gaussian, bimodal, ...)")->required();
    sub->add_option("--decoders", o->decoders, "Decoders, comma-separated")->delimiter(',')->capture_default_str();
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
    sub->callback([o, shard, noPlots]() {
        SweepOptions opts = *o;
        opts.plots = !*noPlots;
        try {
            if (!shard->empty()) {
                auto slash = shard->find('/');
                size_t used1 = 0, used2 = 0;
                try {
                    if (slash == std::string::npos) throw std::invalid_argument("");
                    opts.shardIndex = std::stoi(shard->substr(0, slash), &used1);
                    opts.shardCount = std::stoi(shard->substr(slash + 1), &used2);
                } catch (const std::exception&) {
                    throw std::invalid_argument("--shard expects K/N (e.g. 0/4), got '" + *shard + "'");
                }
                if (used1 != slash || used2 != shard->size() - slash - 1)
                    throw std::invalid_argument("--shard expects K/N (e.g. 0/4), got '" + *shard + "'");
            }
            runSweepCommand(opts, std::cout);
        } catch (const std::exception& e) {
            std::cerr << "openmm-vae sweep: error: " << e.what() << "\n";
            throw CLI::RuntimeError(1);
        }
        throw CLI::Success();
    });
}

} // namespace VAEPlugin
