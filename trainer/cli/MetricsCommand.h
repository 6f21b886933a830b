#ifndef OPENMM_VAE_TRAINER_CLI_METRICS_COMMAND_H_
#define OPENMM_VAE_TRAINER_CLI_METRICS_COMMAND_H_

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace VAEPlugin {

/**
 * Settings of `openmm-vae metrics MODEL --system NAME | --data FILE.npy | --trajectory FILE [--chains N --moves M]
 * [--out FILE.json]`.
 */
struct MetricsCommandOptions {
    std::string model;               ///< model bundle (model.pt)
    std::string system;              ///< built-in system: its data set is regenerated (samples, seed)
    std::string data;                ///< .npy of raw features in the bundle's feature kind
    std::string trajectory;          ///< DCD or .npy positions (nm) of the System's atoms: featurised by the bundle
    std::string out;                 ///< JSON output; default metrics.json beside the model
    int64_t chains = 1000, moves = 1000;  ///< VAE-MC protocol (0 moves: no f_acc)
    std::optional<int64_t> samples;  ///< --system: data set size (default: the bundle's provenance, else 100000)
    std::optional<uint64_t> dataSeed;///< --system: data seed (default: the bundle's provenance, else 1)
    uint64_t seed = 1;               ///< seed of the metrics' and the chains' random numbers
    int64_t batch = 200;             ///< JD_encode batch of consecutive configurations
    int64_t latentSamples = 0;       ///< rows of data.npy and latent_mean.npy written beside the JSON (0: none)
};

/**
 * Computes the latent metrics and (when the energy is known: a built-in system given or named in the
 * bundle's provenance) f_acc of the exact VAE-MC move, chains started from data configurations
 * drawn at random. Writes the JSON (keys jd_encode, jd_encode_total, active_dims, jd_prior,
 * total_correlation, f_acc, n_moves, ...) to options.out (or the default) and returns it. With
 * latentSamples, also data.npy (a fixed random subsample of the data rows, raw features, in data
 * order; the generator seeded with options.seed) and latent_mean.npy (their encoder means) in the
 * JSON's folder, for plots.
 * Throws std::invalid_argument / std::runtime_error with clear messages on bad input.
 */
nlohmann::json runMetricsCommand(const MetricsCommandOptions& options, std::ostream& log);

/**
 * The training losses at the end of every beta stage of the run a bundle belongs to (OUT/beta-<b>/model.pt:
 * its sibling stage folders, in the order of the beta list in the bundle's config.json, else in the
 * order of the numeric beta of the beta-* folders). One entry per stage whose losses.csv exists:
 * {"stage": "<b>", "beta": b, "epochs": rows, "total", "recon", "kl", "val_total", "val_recon", "val_kl"
 * (the last row), and "prior_loss", "prior_val_loss" (last row of prior_losses.csv) for beta = 0}.
 * Stages not trained yet are absent. Throws std::runtime_error naming a malformed CSV.
 */
nlohmann::json stageFinalLosses(const std::string& modelPath);

/**
 * Registers the `metrics` subcommand on the openmm-vae app. Its callback runs runMetricsCommand
 * and ends the parse with CLI::Success (exit 0) or CLI::RuntimeError(1) after printing the error,
 * so app.exit(e) in the caller's ParseError handler returns the right status.
 */
void addMetricsCommand(CLI::App& app);

} // namespace VAEPlugin

#endif
