#ifndef OPENMM_VAE_TRAINER_TRAIN_DATA_PARALLEL_GROUP_H_
#define OPENMM_VAE_TRAINER_TRAIN_DATA_PARALLEL_GROUP_H_

/**
 * Data-parallel training on PyTorch distributed (c10d): a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT
 * (run by rank 0) and a ProcessGroupGloo for the gradient all-reduce. The launch conventions are
 * torchrun's: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment, or the same as flags.
 *
 * Each global batch (the --batch rows of the single-process schedule, in the same epoch order) is
 * cut into `microBatches` contiguous pieces (a multiple of the world size; default: the world size);
 * rank r takes the pieces [r K/N, (r+1) K/N). The reparameterisation noise of piece k is seeded by
 * (epoch, batch, k), so the result depends on K but not on how many ranks share the pieces: N ranks
 * give the weights of 1 rank with K = N up to float32 summation order. Gradients are size-weighted
 * (sum over pieces of rows_k / rows * gradient_k), i.e. exactly the gradient of the global batch mean.
 */

#include "DistributedOptions.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace c10d {
class Store;
}

namespace VAEPlugin {

/** One rank's membership of the run: rendezvous, consistency checks, gradient all-reduce. */
class DataParallelGroup {
public:
    /**
     * Joins the run (with options.singleProcess: nothing to join, the pieces run here): connects to
     * (rank 0: opens) the store, exchanges `settings` (the settings that
     * must agree on every rank, world size included) and fails with std::runtime_error naming the
     * rank and the key that differ, or the rank that did not join within the timeout, then creates
     * the Gloo process group.
     */
    DataParallelGroup(const DistributedOptions& options, const nlohmann::json& settings);
    ~DataParallelGroup();

    int rank() const { return options_.rank; }
    int worldSize() const { return options_.worldSize; }
    int microBatches() const { return options_.microBatches; }
    const DistributedOptions& options() const { return options_; }

    /** All ranks publish `value` under `name`; throws naming the first rank whose value differs from rank 0's. */
    void requireSame(const std::string& name, const nlohmann::json& value);

    /**
     * One optimizer step on a global batch: runs `loss` (returning the batch means, the first of which
     * is minimised) on this rank's pieces after torch::manual_seed(pieceSeed(k)), sums the size-weighted
     * gradients of all ranks, assigns them and steps. Returns the global batch means of the losses.
     */
    std::vector<double> step(const torch::Tensor& batch, const std::function<uint64_t(int piece)>& pieceSeed,
                             const std::function<std::vector<torch::Tensor>(const torch::Tensor& rows)>& loss,
                             torch::optim::Optimizer& optimizer);

    /** Element-wise sum over ranks, in place (float32/float64 CPU tensor). */
    void allReduceSum(torch::Tensor& tensor);
    /** Waits for every rank. */
    void barrier();

private:
    std::string where() const;
    void exchangeSettings(const nlohmann::json& settings);

    DistributedOptions options_;
    std::chrono::milliseconds timeout_;
    c10::intrusive_ptr<c10d::Store> store_;
    struct GlooGroup;  // the Gloo process group, where this LibTorch has Gloo's headers (Distributed.cpp)
    std::unique_ptr<GlooGroup> group_;
};

/** The differences between two JSON objects as "key: a vs b; ..." (empty when equal). */
std::string differences(const nlohmann::json& a, const nlohmann::json& b);

} // namespace VAEPlugin

#endif
