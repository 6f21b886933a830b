#ifndef OPENMM_VAE_FUZZ_HARNESS_H_
#define OPENMM_VAE_FUZZ_HARNESS_H_

// The interface of one fuzz harness (one reader of outside data). Each Fuzz<Name>.cpp implements it;
// FuzzMain.cpp turns it into a libFuzzer target (OPENMMVAE_FUZZ=ON, clang) and ReplayMain.cpp into
// the ctest replay of the seeds and of tests/fuzz/regressions/<name>/ in every build.

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace VAEFuzz {

/** Seed inputs for the corpus, written by the project's own writers (valid files of the format). */
std::vector<std::string> seeds();

/**
 * Feeds one input to the reader. Returns true when it was accepted, false when it was refused with
 * the reader's documented error (std::runtime_error / std::invalid_argument for the trainer,
 * OpenMM::OpenMMException for the plugin). Anything else (another exception type, a crash, a
 * sanitizer report, an accepted result that breaks the reader's promises) is a bug.
 */
bool runOne(const std::string& input);

/** Writes bytes to a scratch file of this process (the readers take paths) and returns its path. */
inline std::string scratchFile(const std::string& bytes, const std::string& suffix) {
    std::string path = "/tmp/openmmvae-fuzz-" + std::to_string(::getpid()) + suffix;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
}

/** Reads a whole file (for seeds written through the project's file writers). */
inline std::string readWhole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/** Aborts with a message: a broken promise of an accepted input is a bug like a crash. */
[[noreturn]] inline void bug(const std::string& what) {
    std::fprintf(stderr, "fuzz harness: %s\n", what.c_str());
    std::abort();
}

} // namespace VAEFuzz

#endif
