#ifndef OPENMM_VAE_TRAINER_TRAIN_DISTRIBUTED_OPTIONS_H_
#define OPENMM_VAE_TRAINER_TRAIN_DISTRIBUTED_OPTIONS_H_

#include <string>

namespace VAEPlugin {

/** How a process joins a data-parallel run (flags, else the torchrun environment variables). */
struct DistributedOptions {
    int rank = -1;              ///< RANK
    int worldSize = -1;         ///< WORLD_SIZE
    std::string masterAddress;  ///< MASTER_ADDR (rank 0's host; default 127.0.0.1)
    int masterPort = -1;        ///< MASTER_PORT (rank 0 listens there)
    double timeoutSeconds = 60; ///< rendezvous, missing rank and collective timeout
    int microBatches = 0;       ///< pieces per global batch; 0: the world size
    bool singleProcess = false; ///< set by resolve(): --micro-batches alone, one rank of one in this process

    /**
     * Fills unset fields from RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Returns false when
     * neither flags nor environment ask for a distributed run (the single-process path). --micro-batches
     * alone asks for rank 0 of 1 in this process (singleProcess: no rendezvous), whose result is that
     * of any number of ranks sharing the same pieces. Throws std::invalid_argument naming the variable
     * or flag with a bad or missing value.
     */
    bool resolve();
};

} // namespace VAEPlugin

#endif
