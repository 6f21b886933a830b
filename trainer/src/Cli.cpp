#include "Cli.h"

#include "Distributed.h"
#include "Training.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

namespace VAEPlugin {

namespace {

std::string normalizeKey(std::string key) {
    std::replace(key.begin(), key.end(), '_', '-');
    return key;
}

std::string scalarText(const nlohmann::json& v, const std::string& key, const std::string& path) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    if (v.is_number_unsigned()) return std::to_string(v.get<unsigned long long>());
    if (v.is_number_float()) {
        std::ostringstream s;
        s.precision(17);
        s << v.get<double>();
        return s.str();
    }
    throw std::runtime_error(path + ": key '" + key + "': expected a string or a number, got " + v.dump());
}

} // namespace

std::vector<std::string> configFileTokens(const std::string& path, const std::vector<std::string>& knownKeys,
                                          const std::vector<std::string>& flagKeys,
                                          const std::vector<std::string>& skip) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("config file " + path + ": cannot open it");
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();

    // Both formats end up as (key, value) with value a JSON scalar, list or boolean.
    std::vector<std::pair<std::string, nlohmann::json>> items;
    bool toml = path.size() > 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
    if (toml) {
        std::istringstream tin(text);
        std::vector<CLI::ConfigItem> parsed;
        try {
            parsed = CLI::ConfigTOML().from_config(tin);
        } catch (const std::exception& e) {
            throw std::runtime_error("config file " + path + ": " + e.what());
        }
        for (const auto& item : parsed) {
            if (item.name == "++" || item.name == "--") continue;  // section markers
            if (!item.parents.empty() && !(item.parents.size() == 1 && item.parents[0] == "train"))
                throw std::runtime_error("config file " + path + ": unknown section '" + item.parents[0] +
                                         "' (keys go at the top level or under [train])");
            nlohmann::json v;
            if (item.inputs.size() == 1) {
                v = item.inputs[0];
            } else {
                v = nlohmann::json::array();
                for (const auto& s : item.inputs) v.push_back(s);
            }
            items.emplace_back(item.name, v);
        }
    } else {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            throw std::runtime_error("config file " + path + ": malformed JSON: " + e.what());
        }
        if (!j.is_object()) throw std::runtime_error("config file " + path + ": expected a JSON object {\"key\": value, ...}");
        if (j.contains("train") && j["train"].is_object() && j.size() == 1) j = j["train"];
        for (auto it = j.begin(); it != j.end(); ++it) items.emplace_back(it.key(), it.value());
    }

    std::vector<std::string> tokens;
    for (auto& [rawKey, value] : items) {
        std::string key = normalizeKey(rawKey);
        if (key == "config") throw std::runtime_error("config file " + path + ": a config file cannot name another ('config')");
        if (std::find(knownKeys.begin(), knownKeys.end(), key) == knownKeys.end())
            throw std::runtime_error("config file " + path + ": unknown key '" + rawKey + "' (see openmm-vae train --help)");
        if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
        bool isFlag = std::find(flagKeys.begin(), flagKeys.end(), key) != flagKeys.end();
        if (isFlag) {
            bool on;
            if (value.is_boolean())
                on = value.get<bool>();
            else if (value.is_string() && (value == "true" || value == "false"))
                on = value == "true";
            else
                throw std::runtime_error("config file " + path + ": key '" + rawKey + "' takes true or false");
            if (on) tokens.push_back("--" + key);
            continue;
        }
        if (value.is_null()) continue;
        std::string text;
        if (value.is_array()) {
            for (const auto& v : value) text += (text.empty() ? "" : ",") + scalarText(v, rawKey, path);
            if (value.empty()) continue;
        } else if (value.is_boolean()) {
            throw std::runtime_error("config file " + path + ": key '" + rawKey + "' takes a value, not true/false");
        } else {
            text = scalarText(value, rawKey, path);
        }
        tokens.push_back("--" + key);
        tokens.push_back(text);
    }
    return tokens;
}

namespace {

void addTrainOptions(CLI::App* train, TrainConfig& c, std::string& configPath, double& temperature, std::string& atomsText,
                     DistributedOptions& d) {
    train->add_option("--config", configPath,
                      "Config file (JSON object, or TOML if the name ends in .toml) whose keys are these long "
                      "flag names; flags on the command line take precedence")
        ->check(CLI::ExistingFile);
    auto data = train->add_option_group("Data");
    data->add_option("--system", c.system,
                     "Built-in system: mueller, gaussian, bimodal, bimodal-correlated, beltway-xy, beltway-rtheta");
    data->add_option("--data", c.data, "External data: a .npy float32/float64 array [samples, columns]");
    data->add_option("--trajectory", c.trajectory, "External data: a DCD trajectory written by OpenMM (with --topology)");
    data->add_option("--topology", c.topology, "PDB file of the --trajectory's atoms (names, elements)");
    data->add_option("--features", c.features,
                     "Feature kind: xy | polar | positions for --data; cartesian | bat | positions for --trajectory")
        ->capture_default_str();
    data->add_option("--periodic", c.periodic, "Periodic (angle) columns of --data, 0-based, e.g. 0,3")->delimiter(',');
    data->add_option("--atoms", atomsText,
                     "System atom indices (0-based, comma-separated) the data belong to; with --trajectory also all "
                     "or heavy (default all; --data: 0..n-1, xy/polar: 0)");
    data->add_option("--constraints", c.constraints,
                     "bat features: hbonds (bonds to hydrogen left out, lengths from the data) | none; must match the "
                     "System the bundle is used with")
        ->capture_default_str();
    data->add_option("--temperature", temperature, "Temperature of --data in kelvin (bundle metadata)");
    data->add_option("--samples", c.samples, "Samples a built-in system generates")->capture_default_str();
    auto model = train->add_option_group("Model");
    model->add_option("--decoder", c.decoder, "mse | condind | autoregressive | flow")->capture_default_str();
    model->add_option("--latent", c.latent, "Latent dimension L")->capture_default_str();
    model->add_option("--hidden", c.hidden, "Encoder/decoder width H")->capture_default_str();
    model->add_option("--flow-hidden", c.flowHidden, "Width of the prior's coupling conditioners")->capture_default_str();
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

/** --atoms: all | heavy (trajectories) or comma-separated 0-based indices. */
void parseAtoms(const std::string& text, TrainConfig& config) {
    if (text.empty()) return;
    if (text == "all" || text == "heavy") {
        if (config.trajectory.empty()) throw std::invalid_argument("--atoms " + text + " needs --trajectory (a topology says which atoms are heavy)");
        config.atomSelection = text;
        return;
    }
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        size_t used = 0;
        int index = -1;
        try {
            index = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != item.size())
            throw std::invalid_argument("--atoms: '" + item + "' is not an atom index (give all, heavy or comma-separated indices)");
        config.atoms.push_back(index);
    }
}

std::vector<std::string> longNames(CLI::App* app) {
    std::vector<std::string> names;
    for (const CLI::Option* opt : app->get_options())
        for (const auto& n : opt->get_lnames()) names.push_back(n);
    for (CLI::App* group : app->get_subcommands([](CLI::App*) { return true; }))
        if (group->get_name().empty())
            for (auto n : longNames(group)) names.push_back(n);
    return names;
}

} // namespace

int runCli(int argc, char** argv, const std::function<void(CLI::App&)>& addCommands) {
    CLI::App app{"openmm-vae: learn collective variables with variational autoencoders"};
    app.require_subcommand(1);
    CLI::App* train = app.add_subcommand("train", "Train VAEs over a beta schedule and write model bundles");
    TrainConfig config;
    std::string configPath;
    double temperature = -1;
    std::string atomsText;
    DistributedOptions distributed;
    addTrainOptions(train, config, configPath, temperature, atomsText, distributed);
    if (addCommands)
        addCommands(app);

    // A config file becomes tokens placed before the command-line ones (which it does not repeat).
    std::vector<std::string> args(argv, argv + argc);
    int trainIndex = -1;
    std::string cfg;
    std::vector<std::string> given;
    for (int i = 1; i < argc; i++) {
        std::string a = args[i];
        if (trainIndex < 0 && a == "train") trainIndex = i;
        if (a.rfind("--", 0) == 0) {
            std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
            given.push_back(name);
            if (name == "config") cfg = a.find('=') != std::string::npos ? a.substr(a.find('=') + 1) : (i + 1 < argc ? args[i + 1] : "");
        }
    }
    if (trainIndex > 0 && !cfg.empty()) {
        try {
            std::vector<std::string> known;
            for (const auto& n : longNames(train))
                if (n != "help") known.push_back(n);
            std::vector<std::string> perProcess = {"rank", "world-size", "master-addr", "master-port"};
            known.erase(std::remove_if(known.begin(), known.end(),
                                       [&](const std::string& k) {
                                           return std::find(perProcess.begin(), perProcess.end(), k) != perProcess.end();
                                       }),
                        known.end());
            auto tokens = configFileTokens(cfg, known, {"resume", "quiet"}, given);
            args.insert(args.begin() + trainIndex + 1, tokens.begin(), tokens.end());
        } catch (const std::exception& e) {
            std::cerr << "openmm-vae train: error: " << e.what() << "\n";
            return 2;
        }
    }
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    try {
        app.parse(static_cast<int>(cargs.size()), cargs.data());
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (temperature > 0) config.temperature = temperature;
    std::string who = "openmm-vae train: ";
    try {
        parseAtoms(atomsText, config);
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
            VAEPlugin::train(config, group.rank() == 0 ? std::cout : silent, &group);
        } else {
            VAEPlugin::train(config, std::cout);
        }
    } catch (const StoppedEarly& e) {
        std::cerr << who << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        std::cerr << who << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

} // namespace VAEPlugin
