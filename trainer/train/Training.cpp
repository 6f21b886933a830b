#include "Training.h"

#include "DataParallelGroup.h"
#include "ReplicaRun.h"

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace VAEPlugin {

namespace fs = std::filesystem;

std::string utcTimestamp() {
    std::time_t t = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

void configureJit() {
    // The simple executor runs each TorchScript graph as written: no profiling runs, no graph
    // rewriting after warm-up. A profiled graph is optimised after its first runs, which changes
    // float results in the last bits, so a resumed run (a new process, warming up again) would drift
    // from an uninterrupted one. VAE_JIT=profiling restores LibTorch's default (for measurements).
    const char* mode = std::getenv("VAE_JIT");
    if (mode && std::string(mode) == "profiling") return;
    torch::jit::getProfilingMode() = false;
    torch::jit::getExecutorMode() = false;
    torch::jit::setGraphExecutorOptimize(false);
}

void setThreads(int n) {
    // Measurement knobs: VAE_TORCH_THREADS / VAE_BLAS_THREADS override the two pools separately.
    // LibTorch's intra-op pool (OpenMP) stays at one thread: with two, GOMP's spin-waiting made
    // training 10-20x slower whenever other processes shared the two cores, and the element-wise
    // ops of these models are too small to gain from it. The matrix products run in OpenBLAS with n.
    int torchThreads = 1, blasThreads = n;
    if (const char* v = std::getenv("VAE_TORCH_THREADS")) torchThreads = std::max(1, std::atoi(v));
    if (const char* v = std::getenv("VAE_BLAS_THREADS")) blasThreads = std::max(1, std::atoi(v));
    at::set_num_threads(torchThreads);
    using SetThreads = void (*)(int);
    if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(blasThreads);
}

Dataset loadDataset(const TrainConfig& config, uint64_t seed) {
    if (!config.system.empty()) return systemDataset(config.system, config.samples, seed);
    if (!config.trajectory.path.empty()) return trajectoryDataset(config.trajectory);
    const TrajectoryOptions& t = config.trajectory;  // features, atoms and temperature of the --data columns
    return npyDataset(config.data, t.features, config.periodic, t.atoms, t.temperature);
}

torch::jit::Module train(const TrainConfig& config, std::ostream& log, DataParallelGroup* group,
                         const TrainingMonitor* monitor) {
    config.validate();
    setThreads(config.threads);
    configureJit();
    // The output folder must be writable before any work starts (by the rank that writes it).
    if (!group || group->rank() == 0) try {
        fs::create_directories(config.out);
        std::string probe = config.out + "/.write-test-" + std::to_string(::getpid());
        std::ofstream test(probe);
        if (!test) throw std::runtime_error("not writable");
        test.close();
        fs::remove(probe);
    } catch (const std::exception& e) {
        throw std::runtime_error("cannot write to the output folder '" + config.out + "': " + e.what());
    }
    if (config.resume) {
        bool any = false;
        for (int r = 0; r < config.replicas; r++)
            if (fs::exists(replicaDirectory(config, r) + "/checkpoint.pt")) any = true;
        if (!any && !fs::exists(stageDirectory(config, 0, config.betas.front()) + "/losses.csv"))
            throw std::runtime_error("--resume: no checkpoint in '" + config.out + "': nothing to resume");
    }
    Dataset dataset = loadDataset(config, config.seed);
    if (group)  // every rank must have read the same data (a file can differ between machines)
        group->requireSame("data", {{"samples", dataset.data.size(0)},
                                    {"features", dataset.data.size(1)},
                                    {"sum", dataset.data.to(torch::kFloat64).sum().item<double>()}});
    if (!config.quiet)
        log << "data: " << dataset.source << "  " << dataset.data.size(0) << " samples x " << dataset.data.size(1)
            << " features (" << featureKindName(dataset.features.kind) << ")\n";
    torch::jit::Module last;
    int epochsRun = 0;
    for (int r = 0; r < config.replicas; r++) {
        ReplicaRun run(config, dataset, r, log, epochsRun, group, monitor);
        last = run.run();
    }
    return last;
}
} // namespace VAEPlugin
