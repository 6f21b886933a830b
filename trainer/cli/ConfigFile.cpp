#include "ConfigFile.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

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

} // namespace VAEPlugin
