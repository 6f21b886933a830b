#ifndef OPENMM_VAE_TRAINER_CLI_SWEEP_COMMAND_H_
#define OPENMM_VAE_TRAINER_CLI_SWEEP_COMMAND_H_

/**
 * `openmm-vae sweep`: trains decoders x betas x replicas on a built-in system, computes the latent
 * metrics and f_acc of every bundle, and tabulates mean and standard deviation over replicas.
 *
 * The unit of work is a job = (decoder, replica): one beta chain trained by the training library
 * (train(), the schedule of `openmm-vae train`), then the metrics of each of its bundles. A job is
 * done when its marker OUT/<decoder>/replica-<r>/done.json exists (written atomically, last); a
 * re-run skips done jobs and resumes an interrupted one from its checkpoint, so jobs can also be
 * spread over processes or machines with --shard K/N and the tables written afterwards.
 *
 * Workers: every sweep process claims a job before running it (JobClaim: OUT/<decoder>/replica-<r>/
 * claim.json, atomic create, heartbeat), so any number of sweep processes pointed at one --out (on one
 * machine or several sharing the folder) split the jobs; a job whose worker died is taken over (and
 * resumed from its checkpoint) by the next worker that looks, at once on the same host, after
 * --claim-timeout elsewhere. Each process waits until every job (of its shard) is done, then writes
 * the tables. `--workers N` starts N such processes locally, replaces one killed by a signal and fails
 * when one fails with an error.
 */

#include "TrainConfig.h"
#include "TrainingMonitor.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace VAEPlugin {

struct SweepOptions {
    std::string system;                        ///< built-in system (required)
    std::vector<DecoderKind> decoders = {DecoderKind::Mse, DecoderKind::Condind, DecoderKind::Autoregressive, DecoderKind::Flow};
    int replicas = 3;                          ///< replica r trains with seed + r (its own data set, split and initialisation)
    TrainConfig train;                         ///< protocol settings shared by every job (betas, epochs, ...)
    int64_t chains = 1000, moves = 1000;       ///< VAE-MC protocol of f_acc per bundle
    int64_t plotSamples = 5000;                ///< rows of data.npy / latent_mean.npy written beside each bundle
    std::string out;                           ///< output folder (required)
    int shardIndex = 0, shardCount = 1;        ///< run only the jobs j with j % shardCount == shardIndex
    bool tablesOnly = false;                   ///< train nothing: write the tables (and plots) of the done jobs
    int workers = 1;                           ///< local worker processes (> 1: this process starts and watches them)
    bool worker = false;                       ///< started by a parent with --workers: run jobs, no tables or plots
    double claimTimeout = 60;                  ///< seconds without heartbeat after which another worker takes a job over
    bool plots = true;                         ///< call the plotter at the end (a failure is a warning)
    std::string python = "/usr/bin/python3";   ///< interpreter of the plotter
    const TrainingMonitor* monitor = nullptr;  ///< in-process watcher of each job's training (Cli.h); not a setting

    /** Throws std::invalid_argument naming the bad value (unknown system or decoder, empty lists, ...). */
    void validate() const;
    /** The settings every job of an output folder must share (compared with OUT/sweep.json on re-runs). */
    nlohmann::json sharedSettings() const;
};

/** One (decoder, replica) beta chain. */
struct SweepJob {
    int index = 0;           ///< position in the job list (decoder-major)
    DecoderKind decoder = DecoderKind::Mse;
    int replica = 0;
    std::string directory;   ///< OUT/<decoder>/replica-<r>
};

/** The jobs of a sweep, decoder-major: (decoders[0], 0), (decoders[0], 1), ... */
std::vector<SweepJob> planSweepJobs(const SweepOptions& options);

/** The training settings of one job (replicas 1, seed + replica, out = its directory). */
TrainConfig sweepJobConfig(const SweepOptions& options, const SweepJob& job);

/** True when the job's done marker exists. */
bool sweepJobDone(const SweepJob& job);

/**
 * Trains the job's beta chain (resuming from its checkpoint if one exists), computes metrics.json,
 * data.npy (a fixed random subsample of the data set, raw features) and latent_mean.npy (the encoder
 * means of those rows) beside every bundle, then writes the done marker.
 */
void runSweepJob(const SweepOptions& options, const SweepJob& job, std::ostream& log);

/**
 * Reads metrics.json of every bundle of the done jobs and writes OUT/table.csv and OUT/table.md:
 * one row per (decoder, beta) with the number of replicas and mean and standard deviation (n - 1)
 * of each quantity. Returns the rows as JSON.
 */
nlohmann::json writeSweepTables(const SweepOptions& options, std::ostream& log);

/** Runs the (shard's) jobs not done yet, each under a JobClaim, until all are done (also those other workers run). */
void runSweepJobs(const SweepOptions& options, std::ostream& log);

/**
 * Starts options.workers local sweep processes (this command with --worker), replaces one killed by a
 * signal, stops the others when one fails with an error (std::runtime_error), then runs what is left.
 */
void runSweepWorkers(const SweepOptions& options, std::ostream& log);

/** A JSON file (sweep.json, metrics.json); std::runtime_error naming the file when it cannot be read or parsed. */
nlohmann::json readJsonFile(const std::string& path);

/** A number as the sweep writes it in logs and tables (`precision` significant digits; empty if not finite). */
std::string formatSweepNumber(double v, int precision = 4);

/** The whole command: plan, run the (shard's) jobs not done yet, tables, plots. Returns the table rows. */
nlohmann::json runSweepCommand(const SweepOptions& options, std::ostream& log);

/**
 * Registers the `sweep` subcommand (exit 0 on success, 1 with a message on stderr on failure); its
 * jobs' training reports to `monitor` (may be null).
 */
void addSweepCommand(CLI::App& app, const TrainingMonitor* monitor = nullptr);

} // namespace VAEPlugin

#endif
