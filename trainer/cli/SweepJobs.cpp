// The sweep's jobs: one (decoder, replica) beta chain each, trained, measured and marked done; the
// loop that claims and runs them, and the local worker processes of --workers.
#include "SweepCommand.h"

#include "AtomicFile.h"
#include "JobClaim.h"
#include "MetricsCommand.h"
#include "Training.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace VAEPlugin {

std::vector<SweepJob> planSweepJobs(const SweepOptions& o) {
    std::vector<SweepJob> jobs;
    for (const auto& d : o.decoders)
        for (int r = 0; r < o.replicas; r++) {
            SweepJob j;
            j.index = static_cast<int>(jobs.size());
            j.decoder = d;
            j.replica = r;
            j.directory = (fs::path(o.out) / decoderKindName(d) / ("replica-" + std::to_string(r))).string();
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
    train(c, log, nullptr, o.monitor);
    double trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

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
        mo.samples = c.samples;  // the job's data set, as train() generated it
        mo.dataSeed = c.seed;
        mo.latentSamples = o.plotSamples;  // data.npy and latent_mean.npy beside the bundle, for the plots
        nlohmann::json metrics = runMetricsCommand(mo, quiet);
        bundles.push_back((fs::path("beta-" + b) / "model.pt").string());
        log << "[sweep] " << decoderKindName(job.decoder) << " replica-" << job.replica << " beta " << b << ": JD_encode "
            << formatSweepNumber(metrics["jd_encode_total"].get<double>()) << ", active dims " << metrics["active_dims"]
            << ", JD_prior " << formatSweepNumber(metrics["jd_prior"].get<double>()) << ", TC "
            << formatSweepNumber(metrics["total_correlation"].get<double>()) << ", f_acc "
            << (metrics["f_acc"].is_null() ? std::string("-") : formatSweepNumber(metrics["f_acc"].get<double>())) << "\n"
            << std::flush;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json marker = {{"decoder", decoderKindName(job.decoder)},         {"replica", job.replica},
                             {"seed", c.seed},                 {"bundles", bundles},
                             {"train_seconds", trainSeconds},  {"seconds", seconds},
                             {"finished", utcTimestamp()},           {"train_config", c.toJson()}};
    writeFileAtomically((dir / "done.json").string(), marker.dump(2) + "\n");
}

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
            std::string name = "job " + std::to_string(job.index + 1) + "/" + std::to_string(total) + " " + decoderKindName(job.decoder) +
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

} // namespace VAEPlugin
