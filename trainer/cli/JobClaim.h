#ifndef OPENMM_VAE_TRAINER_CLI_JOB_CLAIM_H_
#define OPENMM_VAE_TRAINER_CLI_JOB_CLAIM_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace VAEPlugin {

/**
 * Exclusive claim of one job by one process, for workers sharing an output folder (also across
 * machines on a shared file system): FOLDER/claim.json created with O_CREAT | O_EXCL (one creator
 * wins) holding {host, pid, started}. While held, a thread refreshes its modification time every
 * staleSeconds / 4 (the heartbeat). A claim is stale, and is taken over, when its process is gone
 * (same host, no such pid) or its heartbeat is older than staleSeconds (any host): the taker renames
 * it away first (only one rename of a file succeeds), then creates its own. Released on destruction
 * (the file is removed only while it is still this process's).
 */
class JobClaim {
public:
    /** Claims FOLDER's job; null when another live process holds it. Throws when the folder is unusable. */
    static std::unique_ptr<JobClaim> tryClaim(const std::string& folder, double staleSeconds);
    ~JobClaim();
    JobClaim(const JobClaim&) = delete;
    JobClaim& operator=(const JobClaim&) = delete;

    /** True when `path` holds a claim whose process is gone or whose heartbeat is older than staleSeconds. */
    static bool isStale(const std::string& path, double staleSeconds);

private:
    JobClaim(std::string path, std::string content, double staleSeconds);
    std::string path_, content_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread heartbeat_;
};

} // namespace VAEPlugin

#endif
