#include "DataParallelGroup.h"

#ifdef VAE_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace VAEPlugin {

namespace {

std::string seconds(std::chrono::milliseconds t) { return std::to_string(t.count() / 1000.0).substr(0, 5) + " s"; }

} // namespace

std::string differences(const nlohmann::json& a, const nlohmann::json& b) {
    if (a == b) return "";
    if (!a.is_object() || !b.is_object()) return a.dump() + " vs " + b.dump();
    std::string out;
    auto add = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
    for (auto it = a.begin(); it != a.end(); ++it) {
        if (!b.contains(it.key()))
            add(it.key() + ": " + it.value().dump() + " vs (not set)");
        else if (it.value() != b[it.key()])
            add(it.key() + ": " + it.value().dump() + " vs " + b[it.key()].dump());
    }
    for (auto it = b.begin(); it != b.end(); ++it)
        if (!a.contains(it.key())) add(it.key() + ": (not set) vs " + it.value().dump());
    return out;
}

#ifdef VAE_HAVE_GLOO
struct DataParallelGroup::GlooGroup {
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};
#else
struct DataParallelGroup::GlooGroup {};
#endif

DataParallelGroup::DataParallelGroup(const DistributedOptions& options, const nlohmann::json& settings)
    : options_(options),
      timeout_(std::chrono::milliseconds(static_cast<int64_t>(options.timeoutSeconds * 1000))) {
    if (options_.singleProcess) return;  // one rank of one: nothing to meet, nothing to sum
#ifndef VAE_HAVE_GLOO
    // LibTorch's own downloads (pip wheels, libtorch archives) ship without Gloo's headers; CMake said so.
    throw std::runtime_error("multi-process training (RANK/WORLD_SIZE, --world-size) is not in this build: the LibTorch it was "
                             "built against has no Gloo headers (gloo/algorithm.h; Debian: libgloo-dev)");
#endif
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(options_.masterPort);
    so.isServer = options_.rank == 0;
    so.waitWorkers = false;  // the settings exchange below waits for each rank with a clear message
    so.timeout = timeout_;
    try {
        store_ = c10::make_intrusive<c10d::TCPStore>(options_.masterAddress, so);
    } catch (const std::exception& e) {
        std::string first = std::string(e.what()).substr(0, std::string(e.what()).find('\n'));
        if (options_.rank == 0)
            throw std::runtime_error(where() + ": cannot open the rendezvous store on port " +
                                     std::to_string(options_.masterPort) + " (in use?): " + first);
        throw std::runtime_error(where() + ": cannot reach the master (rank 0) at " + options_.masterAddress + ":" +
                                 std::to_string(options_.masterPort) + " within " + seconds(timeout_) + ": " + first);
    }
    exchangeSettings(settings);

#ifdef VAE_HAVE_GLOO
    auto go = c10d::ProcessGroupGloo::Options::create(timeout_);
    if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"))
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    else if (options_.masterAddress == "127.0.0.1" || options_.masterAddress == "localhost")
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    go->threads = 1;
    try {
        group_ = std::make_unique<GlooGroup>();
        group_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, options_.rank, options_.worldSize, go);
    } catch (const std::exception& e) {
        throw std::runtime_error(where() + ": cannot connect the Gloo process group: " + std::string(e.what()).substr(0, 300));
    }
#endif
}

DataParallelGroup::~DataParallelGroup() = default;

std::string DataParallelGroup::where() const {
    return "rank " + std::to_string(options_.rank) + " of " + std::to_string(options_.worldSize);
}

void DataParallelGroup::exchangeSettings(const nlohmann::json& settings) { requireSame("settings", settings); }

void DataParallelGroup::requireSame(const std::string& name, const nlohmann::json& value) {
    if (!store_) return;
    std::string prefix = "openmm-vae/" + name + "/";
    std::string mine = value.dump();
    store_->set(prefix + std::to_string(options_.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
    // Rank 0 first: every rank then names its difference from rank 0 while rank 0 is still there.
    for (int r = 0; r < options_.worldSize; r++) {
        if (r == options_.rank) continue;
        std::vector<uint8_t> bytes;
        try {
            store_->wait({prefix + std::to_string(r)}, timeout_);
            bytes = store_->get(prefix + std::to_string(r));
        } catch (const std::exception& e) {
            throw std::runtime_error(where() + ": rank " + std::to_string(r) + " did not join within " + seconds(timeout_) +
                                     " (was it started with WORLD_SIZE " + std::to_string(options_.worldSize) + " and " +
                                     options_.masterAddress + ":" + std::to_string(options_.masterPort) +
                                     "?); --dist-timeout sets the wait");
        }
        nlohmann::json theirs = nlohmann::json::parse(std::string(bytes.begin(), bytes.end()));
        if (theirs != value) {
            std::string message = where() + ": rank " + std::to_string(r) + " was started with different " + name +
                                  " (rank " + std::to_string(r) + " vs this rank): " + differences(theirs, value);
            // Give the other ranks a moment to read this rank's value and report the same difference.
            std::this_thread::sleep_for(std::chrono::seconds(1));
            throw std::runtime_error(message);
        }
    }
}

void DataParallelGroup::allReduceSum(torch::Tensor& tensor) {
    if (!group_) return;
    std::vector<at::Tensor> tensors{tensor};
    try {
#ifdef VAE_HAVE_GLOO
        group_->group->allreduce(tensors)->wait(timeout_);
#endif
    } catch (const std::exception& e) {
        throw std::runtime_error(where() + ": all-reduce failed (a rank stopped, or none answered within " +
                                 seconds(timeout_) + "): " + std::string(e.what()).substr(0, 300));
    }
}

void DataParallelGroup::barrier() {
    if (!group_) return;
    try {
#ifdef VAE_HAVE_GLOO
        group_->group->barrier()->wait(timeout_);
#endif
    } catch (const std::exception& e) {
        throw std::runtime_error(where() + ": barrier failed (a rank stopped, or none answered within " +
                                 seconds(timeout_) + "): " + std::string(e.what()).substr(0, 300));
    }
}

std::vector<double> DataParallelGroup::step(const torch::Tensor& batch, const std::function<uint64_t(int)>& pieceSeed,
                                            const std::function<std::vector<torch::Tensor>(const torch::Tensor&)>& loss,
                                            torch::optim::Optimizer& optimizer) {
    auto& params = optimizer.param_groups().at(0).params();
    optimizer.zero_grad();
    const int64_t rows = batch.size(0);
    const int pieces = options_.microBatches;
    const int first = options_.rank * pieces / options_.worldSize;
    const int last = (options_.rank + 1) * pieces / options_.worldSize;
    std::vector<double> sums;
    for (int k = first; k < last; k++) {
        int64_t begin = k * rows / pieces, end = (k + 1) * rows / pieces;
        if (end == begin) continue;
        torch::manual_seed(pieceSeed(k));
        auto losses = loss(batch.narrow(0, begin, end - begin));
        double weight = static_cast<double>(end - begin) / static_cast<double>(rows);
        (weight == 1.0 ? losses[0] : losses[0] * weight).backward();
        sums.resize(losses.size(), 0.0);
        for (size_t i = 0; i < losses.size(); i++) sums[i] += losses[i].item<double>() * weight;
    }
    // One buffer of all gradients (zeros where this rank has none), and one of "has a gradient" flags and
    // loss sums: a parameter no rank touched (e.g. the prior at beta = 0) keeps no gradient, as in one process.
    std::vector<torch::Tensor> flat;
    auto flags = torch::zeros({static_cast<int64_t>(params.size()) + 8}, torch::kFloat64);
    for (size_t i = 0; i < params.size(); i++) {
        const auto& g = params[i].grad();
        flat.push_back(g.defined() ? g.reshape(-1) : torch::zeros({params[i].numel()}, params[i].options()));
        if (g.defined()) flags[i] = 1.0;
    }
    if (sums.size() > 8) throw std::logic_error("DataParallelGroup::step: at most 8 loss values");
    for (size_t i = 0; i < sums.size(); i++) flags[params.size() + i] = sums[i];
    auto buffer = torch::cat(flat);
    allReduceSum(buffer);
    allReduceSum(flags);
    int64_t offset = 0;
    for (size_t i = 0; i < params.size(); i++) {
        int64_t n = params[i].numel();
        if (flags[i].item<double>() > 0)
            params[i].mutable_grad() = buffer.narrow(0, offset, n).view_as(params[i]).clone();  // not a view: zero_grad detaches in place
        else
            params[i].mutable_grad() = torch::Tensor();
        offset += n;
    }
    optimizer.step();
    std::vector<double> global;
    for (size_t i = 0; i < 8; i++) global.push_back(flags[params.size() + i].item<double>());
    return global;
}

} // namespace VAEPlugin
