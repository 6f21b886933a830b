#include "MetricsCommand.h"
#include "Npy.h"
#include "TestHelpers.h"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace VAEPlugin;
using namespace VAEPlugin::testing_helpers;
namespace fs = std::filesystem;

namespace {
const int kThreads = setUpThreads();

std::string savedBundle(const std::string& system, const fs::path& dir) {
    auto sys = makeSystem(system);
    torch::Tensor data = sys->sample(2000, 1);
    auto bundle = poorBundle(sys->featureKind(), data, 20, 1);
    nlohmann::json meta;
    meta["features"] = {{"kind", featureKindName(sys->featureKind())}, {"periodic", sys->periodic()}};
    meta["latent"] = 1;
    meta["beta"] = 1.0;
    meta["provenance"] = {{"system", system}, {"samples", 2000}, {"data_seed", 1}};
    fs::create_directories(dir);
    std::string path = (dir / "model.pt").string();
    saveBundle(bundle, meta, path);
    return path;
}

int parse(CLI::App& app, std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return e.get_exit_code();
    }
    return -1;  // the callback did not end the parse
}
} // namespace

TEST(MetricsCommand, WritesTheJsonKeys) {
    fs::path dir = fs::temp_directory_path() / ("vae-metrics-cmd-" + std::to_string(::getpid()));
    std::string model = savedBundle("gaussian", dir);
    CLI::App app;
    addMetricsCommand(app);
    EXPECT_EQ(parse(app, {"metrics", model, "--system", "gaussian", "--chains", "200", "--moves", "20"}), 0);
    std::ifstream f(dir / "metrics.json");
    ASSERT_TRUE(f.good());
    nlohmann::json j = nlohmann::json::parse(f);
    for (const char* key : {"jd_encode", "jd_encode_total", "active_dims", "jd_prior", "total_correlation", "f_acc", "n_moves"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_TRUE(j["jd_encode"].is_array());
    EXPECT_EQ(j["n_moves"].get<int64_t>(), 200 * 20);
    double fAcc = j["f_acc"].get<double>();
    EXPECT_GE(fAcc, 0.0);
    EXPECT_LE(fAcc, 1.0);

    // --data with the bundle's provenance system gives f_acc too; explicit --out
    writeNpy((dir / "data.npy").string(), makeSystem("gaussian")->sample(500, 2));
    MetricsCommandOptions o;
    o.model = model;
    o.data = (dir / "data.npy").string();
    o.out = (dir / "m2.json").string();
    o.chains = 50;
    o.moves = 5;
    std::ostringstream log;
    nlohmann::json j2 = runMetricsCommand(o, log);
    EXPECT_EQ(j2["n_moves"].get<int64_t>(), 250);
    EXPECT_TRUE(fs::exists(o.out));

    // bad input
    CLI::App fresh;  // the command parses once per process; so does the test, per app
    addMetricsCommand(fresh);
    EXPECT_EQ(parse(fresh, {"metrics", model, "--system", "beltway-rtheta", "--moves", "1"}), 1);  // polar vs xy
    o.data.clear();
    EXPECT_THROW(runMetricsCommand(o, log), std::invalid_argument);  // neither --system nor --data
    torch::Tensor three = torch::zeros({10, 3}, torch::kFloat64);
    writeNpy((dir / "three.npy").string(), three);
    o.data = (dir / "three.npy").string();
    EXPECT_THROW(runMetricsCommand(o, log), std::invalid_argument);
    fs::remove_all(dir);
}
