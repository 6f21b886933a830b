#include "AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace VAEPlugin {

namespace {

/** fsync of a file or folder; a folder that cannot be opened for it (some file systems) is skipped. */
void syncToDisk(const std::string& path, bool folder) {
    int fd = ::open(path.c_str(), folder ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0) {
        if (folder) return;
        throw std::runtime_error("cannot open " + path + " to flush it: " + std::strerror(errno));
    }
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0 && !(folder && (err == EINVAL || err == EBADF)))
        throw std::runtime_error("cannot flush " + path + " to disk: " + std::strerror(err));
}

} // namespace

void writeFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write) {
    namespace fs = std::filesystem;
    std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    try {
        write(tmp);
        syncToDisk(tmp, false);
        fs::rename(tmp, path);
    } catch (const std::exception& e) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw std::runtime_error("cannot write " + path + ": " + e.what());
    }
    fs::path folder = fs::path(path).parent_path();
    syncToDisk(folder.empty() ? "." : folder.string(), true);
}

void writeFileAtomically(const std::string& path, const std::string& contents) {
    writeFileAtomically(path, [&](const std::string& tmp) {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
        out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
        out.close();
        if (!out) throw std::runtime_error("write to " + tmp + " failed: " + std::strerror(errno));
    });
}

} // namespace VAEPlugin
