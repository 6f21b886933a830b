#ifndef OPENMM_VAE_TESTS_TRAINER_TEST_DIRECTORY_H_
#define OPENMM_VAE_TESTS_TRAINER_TEST_DIRECTORY_H_

#include <unistd.h>

#include <filesystem>
#include <string>

namespace VAEPlugin {

/** A fresh, empty folder TMP/vae-<suite>-<pid>/<name> for one test's files. */
inline std::string freshTestDirectory(const std::string& suite, const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("vae-" + suite + "-" + std::to_string(::getpid())) / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir.string();
}

} // namespace VAEPlugin

#endif
