// The model bundle: methods in raw units reproduce the trained model, metadata, Python loading.
#include "AtomicFile.h"
#include "VAEModelBundle.h"
#include "BundleArchive.h"
#include "NativeModuleTree.h"
#include <functional>
#include "BundleWriter.h"
#include "Npy.h"
#include "Training.h"

#include "TestDirectory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using namespace VAEPlugin;
namespace fs = std::filesystem;

namespace {

std::string tempDir(const std::string& name) { return freshTestDirectory("bundle-test", name); }

void expectClose(const torch::Tensor& a, const torch::Tensor& b, const std::string& what, double rtol = 1e-6) {
    ASSERT_EQ(a.sizes(), b.sizes()) << what;
    auto diff = (a - b).abs();
    auto bound = rtol * b.abs() + 1e-12;
    EXPECT_TRUE((diff <= bound).all().item<bool>()) << what << ": max difference " << diff.max().item<double>();
}

torch::Tensor first(const c10::IValue& v) { return v.toTuple()->elements()[0].toTensor(); }
torch::Tensor second(const c10::IValue& v) { return v.toTuple()->elements()[1].toTensor(); }

struct Trained {
    TrainConfig config;
    torch::jit::Module model;  // model space, as trained
    torch::jit::Module bundle; // loaded from disk
    nlohmann::json meta;
};

Trained trainSmall(const std::string& name, const std::string& system, const std::string& decoder, int latent,
                   int mixture = 1) {
    Trained t;
    t.config.mixture = mixture;
    t.config.system = system;
    t.config.samples = 2000;
    t.config.decoder = *parseDecoderKind(decoder);
    t.config.latent = latent;
    t.config.hidden = 16;
    t.config.betas = {"1"};
    t.config.epochs = 2;
    t.config.out = tempDir(name);
    t.config.quiet = true;
    t.config.threads = 1;
    t.model = train(t.config, std::cout);
    std::string path = t.config.out + "/beta-1/model.pt";
    torch::jit::ExtraFilesMap extra{{"metadata.json", ""}};
    t.bundle = torch::jit::load(path, torch::kCPU, extra);
    t.bundle.to(torch::kFloat64);
    t.meta = nlohmann::json::parse(extra.at("metadata.json"));
    return t;
}

/** The native section holds every attribute of the module as written, and its check record is what the methods give. */
void checkNativeSection(Trained& t) {
    std::shared_ptr<VAEModelBundle> bundle = VAEModelBundle::load(t.config.out + "/beta-1/model.pt");
    ASSERT_TRUE(bundle->hasNativeSection());
    ASSERT_TRUE(bundle->hasIntegrityRecord());
    std::function<void(const NativeModuleTree&, const NativeModuleTree&, const std::string&)> same =
        [&](const NativeModuleTree& a, const NativeModuleTree& b, const std::string& where) {
            EXPECT_EQ(a.values(), b.values()) << where;
            ASSERT_EQ(a.arrays().size(), b.arrays().size()) << where;
            for (const auto& [name, array] : a.arrays()) {
                const NativeModuleTree::Array& other = b.array(name);
                EXPECT_EQ(array.shape, other.shape) << where << name;
                EXPECT_EQ(array.values, other.values) << where << name;  // bit for bit
                EXPECT_EQ(array.parameter, other.parameter) << where << name;
            }
            ASSERT_EQ(a.children().size(), b.children().size()) << where;
            for (const auto& [name, child] : a.children()) same(child, b.child(name), where + name + ".");
        };
    same(*bundle->getModuleTree(), NativeModuleTree::fromModule(t.bundle), "");
    // the record the file carries (read as a build without LibTorch reads it) and the live one
    nlohmann::json recorded = nlohmann::json::parse(std::string(BundleArchive(bundle->getBytes(), "test").read("extra/native.json")))["checks"];
    const int n = static_cast<int>(bundle->getMetadataAtoms().size());
    EXPECT_EQ(recorded, bundle->getCheckRecord(n).toJson());
}

/** Compares the bundle's raw-unit methods with the in-memory model plus hand-applied standardisation. */
void checkAgainstModel(Trained& t, int64_t B = 64) {
    checkNativeSection(t);
    auto ref = t.model.deepcopy();
    ref.to(torch::kFloat64);
    auto mean = torch::tensor(t.meta["standardization"]["mean"].get<std::vector<double>>(), torch::kFloat64);
    auto scale = torch::tensor(t.meta["standardization"]["scale"].get<std::vector<double>>(), torch::kFloat64);
    double logScale = scale.log().sum().item<double>();
    int D = t.meta["architecture"]["num_features"], L = t.meta["latent"];
    torch::manual_seed(5);
    auto x = torch::randn({B, D}, torch::kFloat64) * scale + mean;
    if (t.meta["features"]["kind"] == "polar") x.select(1, 0).abs_().add_(0.1);
    auto xs = (x - mean) / scale;
    auto z = torch::randn({B, L}, torch::kFloat64);

    auto encRef = ref.get_method("encode")({xs}), encB = t.bundle.get_method("encode")({x});
    expectClose(first(encB), first(encRef), "encoder mean");
    expectClose(second(encB), second(encRef), "encoder log-variance");
    expectClose(t.bundle.get_method("encoder_log_prob")({z, first(encRef), second(encRef)}).toTensor(),
                ref.get_method("encoder_log_prob")({z, first(encRef), second(encRef)}).toTensor(), "encoder log-density");
    expectClose(t.bundle.get_method("decoder_log_prob")({x, z}).toTensor(),
                ref.get_method("decoder_log_prob")({xs, z}).toTensor() - logScale, "decoder log-density");
    expectClose(t.bundle.get_method("prior_log_prob")({z}).toTensor(), ref.get_method("prior_log_prob")({z}).toTensor(),
                "prior log-density");
    auto eps = torch::randn({B, L}, torch::kFloat64);
    expectClose(t.bundle.get_method("prior_sample")({eps}).toTensor(), ref.get_method("prior_sample")({eps}).toTensor(),
                "prior sample");
    auto noise = torch::rand({B, D}, torch::kFloat64).clamp(1e-6, 1 - 1e-6);
    torch::manual_seed(9);
    auto sb = t.bundle.get_method("decoder_sample")({z, noise}).toTensor();
    torch::manual_seed(9);
    auto sr = ref.get_method("decoder_sample")({z, noise}).toTensor();
    auto periodic = t.meta["features"]["periodic"].get<std::vector<bool>>();
    for (int i = 0; i < D; i++) {
        auto expected = periodic[i] ? sr.select(1, i) : sr.select(1, i) * scale[i] + mean[i];
        expectClose(sb.select(1, i), expected, "decoder sample, feature " + std::to_string(i));
    }
}

} // namespace

TEST(Bundle, XYBundleReproducesModel) {
    auto t = trainSmall("xy", "gaussian", "condind", 2);
    EXPECT_EQ(t.meta["format_version"], BundleSchema::kFormatVersion);
    EXPECT_EQ(t.meta["atoms"], nlohmann::json::array({0}));
    EXPECT_EQ(t.meta["latent"], 2);
    EXPECT_EQ(t.meta["features"]["kind"], "xy");
    EXPECT_EQ(t.meta["features"]["names"], nlohmann::json::array({"x", "y"}));
    EXPECT_EQ(t.meta["architecture"]["decoder"], "condind");
    EXPECT_EQ(t.meta["architecture"]["hidden"], 16);
    EXPECT_TRUE(t.meta["temperature"].is_null());
    EXPECT_EQ(t.meta["beta"], 1.0);
    EXPECT_EQ(t.meta["provenance"]["system"], "gaussian");
    EXPECT_TRUE(t.meta["provenance"].contains("final_losses"));
    EXPECT_NEAR(t.meta["standardization"]["mean"][0].get<double>(), -3.0, 0.1);
    checkAgainstModel(t);

    // forward(positions [n, 3]) is the encoder mean of (x, y); featurize and its inverse.
    auto pos = torch::tensor({{{-2.5, -3.5, 0.7}}}, torch::kFloat64);
    auto z = t.bundle.forward({pos[0]}).toTensor();
    auto mu = first(t.bundle.get_method("encode")({torch::tensor({{-2.5, -3.5}}, torch::kFloat64)}));
    EXPECT_EQ(z.sizes(), (std::vector<int64_t>{2}));
    expectClose(z, mu[0], "forward");
    auto f = t.bundle.get_method("featurize")({pos});
    expectClose(first(f), torch::tensor({{-2.5, -3.5}}, torch::kFloat64), "xy features");
    EXPECT_EQ(second(f).item<double>(), 0.0);
    auto back = t.bundle.get_method("positions_from_features")({torch::tensor({{1.0, 2.0}}, torch::kFloat64), pos}).toTensor();
    expectClose(back, torch::tensor({{{1.0, 2.0, 0.7}}}, torch::kFloat64), "positions_from_features keeps z");
    // The CV has gradients with respect to positions (what the plugin needs for forces).
    auto p = pos[0].clone().requires_grad_(true);
    t.bundle.forward({p}).toTensor().sum().backward();
    EXPECT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad()[0][2].item<double>(), 0.0);
    // Wrong shapes are refused with a message.
    EXPECT_THROW(t.bundle.forward({torch::zeros({2, 3}, torch::kFloat64)}), std::exception);
}

TEST(Bundle, PolarBundle) {
    auto t = trainSmall("polar", "beltway-rtheta", "mse", 1);
    EXPECT_EQ(t.meta["features"]["kind"], "polar");
    EXPECT_EQ(t.meta["features"]["periodic"], nlohmann::json::array({false, true}));
    EXPECT_EQ(t.meta["standardization"]["mean"][1], 0.0);
    EXPECT_EQ(t.meta["standardization"]["scale"][1], 1.0);
    checkAgainstModel(t);
    auto pos = torch::tensor({{{0.0, 2.0, 0.1}}, {{-1.0, -1.0, 0.2}}}, torch::kFloat64);
    auto f = t.bundle.get_method("featurize")({pos});
    expectClose(first(f), torch::tensor({{2.0, M_PI / 2}, {std::sqrt(2.0), -3 * M_PI / 4}}, torch::kFloat64), "polar features");
    expectClose(second(f), torch::tensor({std::log(2.0), 0.5 * std::log(2.0)}, torch::kFloat64), "ln J = ln r");
    auto back = t.bundle.get_method("positions_from_features")({first(f), pos}).toTensor();
    expectClose(back + 10, pos + 10, "polar round trip", 1e-12);
}

TEST(Bundle, MixtureAutoregressiveBundle) {
    // --mixture K: the decoder's K and the metadata (mixture_components; rotor_multiplicity all 1 here)
    auto t = trainSmall("mixture", "beltway-rtheta", "autoregressive", 1, 3);
    EXPECT_EQ(t.meta["architecture"]["mixture_components"], 3);
    EXPECT_EQ(t.meta["architecture"]["rotor_multiplicity"], nlohmann::json::array({1, 1}));
    torch::jit::Module decoder = t.bundle.attr("model").toModule().attr("decoder").toModule();
    EXPECT_EQ(decoder.attr("num_components").toInt(), 3);
    checkAgainstModel(t);
}

TEST(Bundle, PythonLoadsAndReproduces) {
    auto t = trainSmall("python", "bimodal", "condind", 1);
    std::string dir = t.config.out + "/beta-1";
    // Reference values from the C++ bundle, checked by Python's torch.jit.load.
    torch::manual_seed(3);
    auto x = torch::randn({32, 2}, torch::kFloat64) * 3;
    auto z = torch::randn({32, 1}, torch::kFloat64);
    auto enc = t.bundle.get_method("encode")({x});
    auto positions = torch::cat({x, torch::zeros({32, 1}, torch::kFloat64)}, 1).unsqueeze(1);
    writeNpy(dir + "/x.npy", x);
    writeNpy(dir + "/z.npy", z);
    writeNpy(dir + "/mu.npy", first(enc));
    writeNpy(dir + "/logvar.npy", second(enc));
    writeNpy(dir + "/decoder_log_prob.npy", t.bundle.get_method("decoder_log_prob")({x, z}).toTensor().unsqueeze(1));
    writeNpy(dir + "/prior_log_prob.npy", t.bundle.get_method("prior_log_prob")({z}).toTensor().unsqueeze(1));
    writeNpy(dir + "/latent_mean.npy", t.bundle.get_method("latent_mean")({positions}).toTensor());
    std::string cmd = std::string(VAE_PYTHON) + " " + VAE_CHECK_BUNDLE_SCRIPT + " " + dir;
    int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << cmd;
}

TEST(Bundle, SaveIsAtomic) {
    auto t = trainSmall("atomic", "gaussian", "mse", 1);
    std::string dir = t.config.out + "/beta-1";
    for (const auto& entry : fs::directory_iterator(dir))
        EXPECT_EQ(entry.path().string().find(".tmp-"), std::string::npos) << entry.path();
    // A failing save leaves neither the final name nor a temporary file.
    EXPECT_THROW(writeFileAtomically("/proc/version/model.pt",
                                     [&](const std::string& tmp) { saveBundle(t.bundle, t.meta, tmp); }),
                 std::runtime_error);
    EXPECT_FALSE(fs::exists("/proc/version/model.pt"));
    EXPECT_EQ(VAEModelBundle::load(dir + "/model.pt")->getMetadata()["latent"], 1);
}
