#include "TrainCommand.h"

#include "Cli.h"
#include "CommandRunner.h"
#include "ConfigFile.h"
#include "DataParallelGroup.h"
#include "NumberText.h"
#include "Training.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace VAEPlugin {

namespace {

/** --atoms: all | heavy (trajectories) or comma-separated 0-based indices. */
void parseAtoms(const std::string& text, TrajectoryOptions& options) {
    if (text.empty()) return;
    if (text == "all" || text == "heavy") {
        if (options.path.empty()) throw std::invalid_argument("--atoms " + text + " needs --trajectory (a topology says which atoms are heavy)");
        options.atomSelection = text;
        return;
    }
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        std::optional<int> index = parseInteger(item);
        if (!index)
            throw std::invalid_argument("--atoms: '" + item + "' is not an atom index (give all, heavy or comma-separated indices)");
        options.atoms.push_back(*index);
    }
}

/** A kind named on the command line; std::invalid_argument naming the flag, the value and the known names. */
FeatureKind featureKindOf(const std::string& text) {
    if (auto kind = parseFeatureKind(text)) return *kind;
    throw std::invalid_argument("--features: unknown feature kind '" + text + "' (known: " + featureKindNames() + ")");
}

} // namespace

DecoderKind decoderKindOf(const std::string& text, const std::string& flag) {
    if (auto kind = parseDecoderKind(text)) return *kind;
    throw std::invalid_argument(flag + ": unknown decoder '" + text + "' (known: " + decoderKindNames() + ")");
}

TrainCommand::TrainCommand(CLI::App& app, const TrainingMonitor* monitor)
    : command_(app.add_subcommand("train", "Train VAEs over a beta schedule and write model bundles")),
      decoderText_(decoderKindName(config_.decoder)),
      monitor_(monitor) {
    addOptions();
    command_->callback([this]() { finishCommand(run()); });
}

void TrainCommand::addOptions() {
    CLI::App* train = command_;
    TrainConfig& c = config_;
    TrajectoryOptions& t = c.trajectory;
    DistributedOptions& d = distributed_;
    train->add_option("--config", configPath_,
                      "Config file (JSON object, or TOML if the name ends in .toml) whose keys are these long "
                      "flag names; flags on the command line take precedence")
        ->check(CLI::ExistingFile);
    auto data = train->add_option_group("Data");
    data->add_option("--system", c.system,
                     "Built-in system: mueller, gaussian, bimodal, bimodal-correlated, beltway-xy, beltway-rtheta");
    data->add_option("--data", c.data, "External data: a .npy float32/float64 array [samples, columns]");
    data->add_option("--trajectory", t.path, "External data: a DCD trajectory written by OpenMM, or a .npy array of positions in nm "
                     "[frames, atoms, 3] (with --topology)");
    data->add_option("--topology", t.topology, "PDB file of the --trajectory's atoms (names, elements)");
    auto kinds = [](std::initializer_list<FeatureKind> list) {
        std::string text;
        for (FeatureKind k : list) text += (text.empty() ? "" : " | ") + std::string(featureKindName(k));
        return text;
    };
    data->add_option("--features", featuresText_,
                     "Feature kind: " + kinds({FeatureKind::XY, FeatureKind::Polar, FeatureKind::Positions}) +
                         " for --data and --system (default " + featureKindName(FeatureKind::XY) + "); " +
                         kinds({FeatureKind::Cartesian, FeatureKind::Bat, FeatureKind::Positions}) +
                         " for --trajectory (default " + featureKindName(FeatureKind::Bat) + ", the paper's best for molecules)");
    data->add_option("--periodic", c.periodic, "Periodic (angle) columns of --data, 0-based, e.g. 0,3")->delimiter(',');
    data->add_option("--atoms", atomsText_,
                     "System atom indices (0-based, comma-separated) the data belong to; with --trajectory also all "
                     "or heavy (default all; --data: 0..n-1, xy/polar: 0)");
    data->add_option("--constraints", t.constraints,
                     "bat features: hbonds (bonds to hydrogen left out, lengths from the data) | none; must match the "
                     "System the bundle is used with")
        ->capture_default_str();
    data->add_option("--rotors", t.rotors,
                     "bat features: auto (torsions of rotors such as CH3, NH3+ get their multiplicity from the "
                     "topology: the decoder's density repeats every 2 pi / m) | none (all 1)")
        ->capture_default_str();
    data->add_option("--temperature", temperature_, "Temperature of --data in kelvin (bundle metadata)");
    data->add_option("--samples", c.samples, "Samples a built-in system generates")->capture_default_str();
    auto model = train->add_option_group("Model");
    model->add_option("--decoder", decoderText_, decoderKindNames())->capture_default_str();
    model->add_option("--latent", c.latent, "Latent dimension L")->capture_default_str();
    model->add_option("--hidden", c.hidden, "Encoder/decoder width H")->capture_default_str();
    model->add_option("--flow-hidden", c.flowHidden, "Width of the prior's coupling conditioners")->capture_default_str();
    model->add_option("--mixture", c.mixture,
                      "Von Mises mixture components K of each periodic conditional (--decoder autoregressive)")
        ->capture_default_str();
    auto protocol = train->add_option_group("Protocol");
    protocol->add_option("--betas", c.betas,
                         "Beta schedule, comma-separated; 0 = fresh model then prior fit; the first non-zero beta "
                         "starts a fresh model annealed from 0; later ones continue (10,1 = reverse annealing)")
        ->delimiter(',')
        ->capture_default_str();
    protocol->add_option("--epochs", c.epochs, "Epochs per beta")->capture_default_str();
    protocol->add_option("--anneal", c.anneal, "Annealing epochs at the start of each beta")->capture_default_str();
    protocol->add_option("--prior-epochs", c.priorEpochs, "Prior-only epochs after beta = 0")->capture_default_str();
    protocol->add_option("--batch", c.batch, "Batch size")->capture_default_str();
    protocol->add_option("--learning-rate", c.learningRate, "Adam learning rate")->capture_default_str();
    protocol->add_option("--validation", c.validation, "Fraction of the shuffled data held out")->capture_default_str();
    protocol->add_option("--seed", c.seed, "Seed (data, split, initialisation, batches); replica r uses seed + r")
        ->capture_default_str();
    protocol->add_option("--replicas", c.replicas, "Independent runs; with more than one, OUT/replica-<r>/beta-<b>/")
        ->capture_default_str();
    auto exec = train->add_option_group("Execution");
    exec->add_option("--out", c.out, "Output folder: OUT/beta-<b>/{model.pt,losses.csv,config.json}");
    exec->add_option("--threads", c.threads, "CPU threads (LibTorch and OpenBLAS)")->capture_default_str();
    exec->add_option("--device", c.device, "cpu | cuda")->capture_default_str();
    exec->add_option("--dtype", c.dtype, "Training precision: float32 | float64 (bundles are float64)")
        ->capture_default_str();
    exec->add_flag("--resume", c.resume, "Continue an interrupted run from OUT's checkpoint");
    exec->add_option("--stop-after", c.stopAfter, "Stop after this many epochs, as if interrupted (for tests)");
    exec->add_flag("--quiet", c.quiet, "No progress lines");
    auto dist = train->add_option_group("Data parallel (default: the RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT environment)");
    dist->add_option("--rank", d.rank, "This process's rank, 0..world size - 1 (RANK)");
    dist->add_option("--world-size", d.worldSize, "Number of ranks (WORLD_SIZE)");
    dist->add_option("--master-addr", d.masterAddress, "Host of rank 0 (MASTER_ADDR; default 127.0.0.1)");
    dist->add_option("--master-port", d.masterPort, "Port rank 0 listens on (MASTER_PORT)");
    dist->add_option("--dist-timeout", d.timeoutSeconds,
                     "Seconds to wait for the master, a missing rank or a collective before failing")
        ->capture_default_str();
    dist->add_option("--micro-batches", d.microBatches,
                     "Pieces each batch is cut into (noise seeded per piece), a multiple of the world size; "
                     "default: the world size")
        ->capture_default_str();
}

std::vector<std::string> TrainCommand::withConfigFile(const std::vector<std::string>& args) const {
    // A config file becomes tokens placed before the command-line ones (which it does not repeat).
    int trainIndex = -1;
    std::string cfg;
    std::vector<std::string> given;
    for (size_t i = 1; i < args.size(); i++) {
        const std::string& a = args[i];
        if (trainIndex < 0 && a == command_->get_name()) trainIndex = static_cast<int>(i);
        if (a.rfind("--", 0) == 0) {
            std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
            given.push_back(name);
            if (name == "config") cfg = a.find('=') != std::string::npos ? a.substr(a.find('=') + 1) : (i + 1 < args.size() ? args[i + 1] : "");
        }
    }
    if (trainIndex < 0 || cfg.empty()) return args;
    std::vector<std::string> known;
    for (const CliOption& o : describeOptions(*command_))
        if (!o.positional) known.push_back(o.name);
    // Per-process settings of a data-parallel run are never shared through a file.
    std::vector<std::string> perProcess = {"rank", "world-size", "master-addr", "master-port"};
    known.erase(std::remove_if(known.begin(), known.end(),
                               [&](const std::string& k) {
                                   return std::find(perProcess.begin(), perProcess.end(), k) != perProcess.end();
                               }),
                known.end());
    auto tokens = configFileTokens(cfg, known, {"resume", "quiet"}, given);
    std::vector<std::string> out = args;
    out.insert(out.begin() + trainIndex + 1, tokens.begin(), tokens.end());
    return out;
}

int TrainCommand::run() {
    TrainConfig config = config_;
    if (temperature_ > 0) config.trajectory.temperature = temperature_;
    std::string who = "openmm-vae train: ";
    try {
        // The default fits the input: bat for a trajectory, xy for 2-D data.
        if (featuresText_.empty())
            config.trajectory.features = config.trajectory.path.empty() ? FeatureKind::XY : FeatureKind::Bat;
        // (the catch below reads config.trajectory.features: set before anything can throw)
        else
            config.trajectory.features = featureKindOf(featuresText_);
        config.decoder = decoderKindOf(decoderText_, "--decoder");
        parseAtoms(atomsText_, config.trajectory);
        DistributedOptions distributed = distributed_;
        if (distributed.resolve()) {
            // One rank of a data-parallel run: the settings that define the result must agree on every rank.
            who += "rank " + std::to_string(distributed.rank) + ": ";
            config.validate();
            nlohmann::json settings = config.toJson();
            settings["world_size"] = distributed.worldSize;
            settings["micro_batches"] = distributed.microBatches;
            settings["resume"] = config.resume;
            settings["stop_after"] = config.stopAfter;
            DataParallelGroup group(distributed, settings);
            std::ostream silent(nullptr);  // ranks other than 0 print nothing but errors
            if (group.rank() == 0 && !config.quiet) {
                std::cout << "data parallel: rank 0 of " << group.worldSize();
                if (distributed.singleProcess)
                    std::cout << " (one process, --micro-batches without RANK/WORLD_SIZE)";
                else
                    std::cout << " (master " << distributed.masterAddress << ":" << distributed.masterPort << ")";
                std::cout << ", each batch cut into " << group.microBatches() << " pieces\n";
            }
            train(config, group.rank() == 0 ? std::cout : silent, &group, monitor_);
        } else {
            train(config, std::cout, nullptr, monitor_);
        }
    } catch (const StoppedEarly& e) {
        std::cerr << who << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        std::string message = e.what();
        // A message about the feature kind names the value in effect; say where it came from when not given.
        if (featuresText_.empty() && message.find("features '") != std::string::npos)
            message += " (--features was not given: " + std::string(featureKindName(config.trajectory.features)) +
                       " is the default " + (config.trajectory.path.empty() ? "for --data" : "with --trajectory") + ")";
        std::cerr << who << "error: " << message << "\n";
        return 1;
    }
    return 0;
}

} // namespace VAEPlugin
