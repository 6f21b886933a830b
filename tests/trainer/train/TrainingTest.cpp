// Training protocol: schedule, determinism, resume, convergence on the 2-D Gaussian.
#include "Stages.h"
#include "Training.h"

#include "TestDirectory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace VAEPlugin;
namespace fs = std::filesystem;

namespace {

std::string tempDir(const std::string& name) { return freshTestDirectory("train-test", name); }

std::string readText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TrainConfig tinyConfig(const std::string& out) {
    TrainConfig c;
    c.system = "gaussian";
    c.samples = 1000;
    c.decoder = DecoderKind::Condind;
    c.hidden = 16;
    c.betas = {"0", "1", "2"};
    c.epochs = 3;
    c.anneal = 2;
    c.priorEpochs = 2;
    c.out = out;
    c.quiet = true;
    c.threads = 1;
    return c;
}

void expectSameParameters(const torch::jit::Module& a, const torch::jit::Module& b) {
    auto pa = a.named_parameters(true), pb = b.named_parameters(true);
    ASSERT_EQ(pa.size(), pb.size());
    auto ia = pa.begin();
    auto ib = pb.begin();
    for (; ia != pa.end(); ++ia, ++ib) {
        EXPECT_EQ((*ia).name, (*ib).name);
        EXPECT_TRUE(torch::equal((*ia).value, (*ib).value)) << (*ia).name;
    }
}

} // namespace

TEST(Schedule, AnnealingValues) {
    // beta_epoch = from + (to - from) * epoch / (A - 1) during the first A epochs, then held.
    EXPECT_DOUBLE_EQ(annealedBeta(0, 1, 0, 20), 0.0);
    EXPECT_DOUBLE_EQ(annealedBeta(0, 1, 1, 20), 1.0 / 19);
    EXPECT_DOUBLE_EQ(annealedBeta(0, 1, 10, 20), 10.0 / 19);
    EXPECT_DOUBLE_EQ(annealedBeta(0, 1, 19, 20), 1.0);
    EXPECT_DOUBLE_EQ(annealedBeta(0, 1, 50, 20), 1.0);
    EXPECT_DOUBLE_EQ(annealedBeta(2, 5, 3, 4), 5.0);
    EXPECT_DOUBLE_EQ(annealedBeta(2, 5, 1, 4), 3.0);
    EXPECT_DOUBLE_EQ(annealedBeta(10, 1, 1, 4), 7.0);  // reverse annealing
    EXPECT_DOUBLE_EQ(annealedBeta(0, 3, 0, 1), 3.0);   // A = 1: no annealing
    EXPECT_DOUBLE_EQ(annealedBeta(0, 3, 0, 0), 3.0);
}

TEST(Schedule, Stages) {
    auto s = planStages({"0", "1", "2", "5", "10"});
    ASSERT_EQ(s.size(), 5u);
    EXPECT_TRUE(s[0].fresh && s[0].priorFit);
    EXPECT_TRUE(s[1].fresh);
    EXPECT_DOUBLE_EQ(s[1].fromBeta, 0.0);
    EXPECT_FALSE(s[2].fresh);
    EXPECT_DOUBLE_EQ(s[2].fromBeta, 1.0);
    EXPECT_DOUBLE_EQ(s[4].fromBeta, 5.0);
    EXPECT_FALSE(s[4].priorFit);
    auto r = planStages({"10", "1"});
    EXPECT_TRUE(r[0].fresh);
    EXPECT_FALSE(r[1].fresh);
    EXPECT_DOUBLE_EQ(r[1].fromBeta, 10.0);
    EXPECT_EQ(planStages({"0.5"})[0].name, "0.5");
    EXPECT_THROW(planStages({"1", "x"}), std::invalid_argument);
    EXPECT_THROW(planStages({"-1"}), std::invalid_argument);
    EXPECT_THROW(planStages({"1", "1"}), std::invalid_argument);
    EXPECT_THROW(planStages({}), std::invalid_argument);
}

TEST(Training, OutputLayout) {
    auto out = tempDir("layout");
    auto c = tinyConfig(out);
    train(c, std::cout);
    for (std::string b : {"0", "1", "2"}) {
        for (std::string f : {"model.pt", "losses.csv", "config.json"}) EXPECT_TRUE(fs::exists(out + "/beta-" + b + "/" + f)) << b << f;
        auto csv = readText(out + "/beta-" + b + "/losses.csv");
        EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,beta,total,recon,kl,val_total,val_recon,val_kl");
        EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + c.epochs);
    }
    EXPECT_TRUE(fs::exists(out + "/beta-0/prior_losses.csv"));
    EXPECT_FALSE(fs::exists(out + "/checkpoint.pt"));  // removed when the run completes
    // beta column of beta-2: annealed 1 -> 2 over 2 epochs, then held.
    auto csv = readText(out + "/beta-2/losses.csv");
    std::istringstream lines(csv);
    std::string line;
    std::getline(lines, line);
    std::vector<double> betas;
    while (std::getline(lines, line)) betas.push_back(std::stod(line.substr(line.find(',') + 1)));
    EXPECT_EQ(betas, (std::vector<double>{1.0, 2.0, 2.0}));
    // Replicas get their own folders.
    auto outR = tempDir("replicas");
    auto cr = tinyConfig(outR);
    cr.betas = {"1"};
    cr.replicas = 2;
    cr.epochs = 1;
    train(cr, std::cout);
    EXPECT_TRUE(fs::exists(outR + "/replica-0/beta-1/model.pt"));
    EXPECT_TRUE(fs::exists(outR + "/replica-1/beta-1/model.pt"));
    EXPECT_NE(readText(outR + "/replica-0/beta-1/losses.csv"), readText(outR + "/replica-1/beta-1/losses.csv"));
}

TEST(Training, DeterministicWithSeed) {
    auto c1 = tinyConfig(tempDir("det1")), c2 = tinyConfig(tempDir("det2")), c3 = tinyConfig(tempDir("det3"));
    c3.seed = 2;
    auto m1 = train(c1, std::cout), m2 = train(c2, std::cout), m3 = train(c3, std::cout);
    expectSameParameters(m1, m2);
    for (std::string b : {"0", "1", "2"})
        EXPECT_EQ(readText(c1.out + "/beta-" + b + "/losses.csv"), readText(c2.out + "/beta-" + b + "/losses.csv"));
    EXPECT_NE(readText(c1.out + "/beta-2/losses.csv"), readText(c3.out + "/beta-2/losses.csv"));
}

TEST(Training, ResumeGivesTheSameFinalWeights) {
    auto ref = tinyConfig(tempDir("uninterrupted"));
    auto full = train(ref, std::cout);
    // Interrupt every 2 epochs (inside the beta = 0 main epochs, its prior fit, and the continued stage).
    auto c = tinyConfig(tempDir("interrupted"));
    c.stopAfter = 2;
    int interruptions = 0;
    torch::jit::Module last;
    for (;;) {
        try {
            last = train(c, std::cout);
            break;
        } catch (const StoppedEarly&) {
            interruptions++;
            ASSERT_TRUE(fs::exists(c.out + "/checkpoint.pt"));
            c.resume = true;
        }
        ASSERT_LT(interruptions, 20);
    }
    EXPECT_GE(interruptions, 5);
    expectSameParameters(full, last);
    for (std::string b : {"0", "1", "2"})
        EXPECT_EQ(readText(ref.out + "/beta-" + b + "/losses.csv"), readText(c.out + "/beta-" + b + "/losses.csv")) << b;
    EXPECT_EQ(readText(ref.out + "/beta-0/prior_losses.csv"), readText(c.out + "/beta-0/prior_losses.csv"));
    // Resuming with other settings is refused.
    auto d = tinyConfig(tempDir("mismatch"));
    d.stopAfter = 1;
    EXPECT_THROW(train(d, std::cout), StoppedEarly);
    d.resume = true;
    d.hidden = 8;
    EXPECT_THROW(train(d, std::cout), std::runtime_error);
}

TEST(Training, GaussianCondIndReachesEntropy) {
    // Two independent unit Gaussians: entropy 2 * 0.5 ln(2 pi e) = 2.8379 nats per sample. At beta = 1
    // the validation loss (negative ELBO) is bounded below by it (up to sampling noise).
    // Default learning rate (1e-4); a quarter of the data held out keeps the noise of the validation
    // estimate (per-sample standard deviation ~1 nat) near 0.015 nats. About 13 s on one core.
    auto c = tinyConfig(tempDir("entropy"));
    c.samples = 20000;
    c.validation = 0.25;
    c.betas = {"1"};
    c.epochs = 10;
    c.anneal = 3;
    c.hidden = 50;
    train(c, std::cout);
    auto csv = readText(c.out + "/beta-1/losses.csv");
    std::istringstream lines(csv);
    std::string line, lastLine;
    while (std::getline(lines, line))
        if (!line.empty()) lastLine = line;
    std::vector<double> v;
    std::stringstream s(lastLine);
    std::string cell;
    while (std::getline(s, cell, ',')) v.push_back(std::stod(cell));
    ASSERT_EQ(v.size(), 8u);
    const double entropy = std::log(2 * M_PI * std::exp(1.0));
    EXPECT_NEAR(v[5], entropy, 0.05) << "validation loss " << v[5];
    EXPECT_DOUBLE_EQ(v[1], 1.0);
}

TEST(Training, BadConfigurations) {
    auto c = tinyConfig(tempDir("bad"));
    auto expectError = [&](TrainConfig bad, const std::string& text) {
        try {
            train(bad, std::cout);
            ADD_FAILURE() << "expected an error containing " << text;
        } catch (const std::exception& e) {
            EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
        }
    };
    auto b = c;
    b.system = "nope";
    expectError(b, "unknown system 'nope'");
    // An unknown decoder never reaches TrainConfig (a DecoderKind): its name is refused where it is parsed
    // (openmm-vae train --decoder: tests/trainer/cli/cli_test.sh).
    EXPECT_FALSE(parseDecoderKind("gru").has_value());
    b = c;
    b.system = "";
    expectError(b, "--system");
    b = c;
    b.data = "x.npy";
    expectError(b, "not both");
    b = c;
    b.out = "/proc/version/sub";
    expectError(b, "cannot write to the output folder");
    b = c;
    b.mixture = 0;
    expectError(b, "--mixture must be at least 1, got 0");
    b = c;
    b.mixture = 2;  // tinyConfig's decoder is condind
    expectError(b, "--mixture 2 needs --decoder autoregressive (got --decoder condind)");
    b = c;
    b.device = "cuda";
    if (!torch::cuda::is_available()) expectError(b, "no CUDA GPU");
}
