#ifndef OPENMM_VAE_TRAINER_DATA_ATOMICFILE_H_
#define OPENMM_VAE_TRAINER_DATA_ATOMICFILE_H_

#include <functional>
#include <string>

namespace VAEPlugin {

/**
 * Writes a file so that a crash, kill -9 or power loss leaves either the old file or the complete new
 * one, never a half-written file: `write` fills a temporary file in the same folder
 * (PATH.tmp-<pid>), which is flushed to disk (fsync) and renamed over PATH; the folder is fsynced so
 * the rename itself survives. On any error the temporary file is removed and std::runtime_error
 * names PATH. Every file the trainer writes (checkpoints, bundles, losses, configs, metrics, markers)
 * goes through here.
 */
void writeFileAtomically(const std::string& path, const std::function<void(const std::string& temporaryPath)>& write);

/** writeFileAtomically with the bytes of `contents`. */
void writeFileAtomically(const std::string& path, const std::string& contents);

} // namespace VAEPlugin

#endif
