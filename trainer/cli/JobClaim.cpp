#include "JobClaim.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace VAEPlugin {

namespace {

std::string hostName() {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

std::string readText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace

bool JobClaim::isStale(const std::string& path, double staleSeconds) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;  // gone: nothing to take over
    double age = std::difftime(std::time(nullptr), st.st_mtime);
    if (age > staleSeconds) return true;
    try {
        auto j = nlohmann::json::parse(readText(path));
        if (j.at("host").get<std::string>() == hostName()) {
            pid_t pid = j.at("pid").get<pid_t>();
            if (::kill(pid, 0) != 0 && errno == ESRCH) return true;  // its process died
        }
    } catch (const std::exception&) {
        // Being written right now (a claim is created empty, then filled): not stale unless old.
    }
    return false;
}

std::unique_ptr<JobClaim> JobClaim::tryClaim(const std::string& folder, double staleSeconds) {
    fs::create_directories(folder);
    std::string path = (fs::path(folder) / "claim.json").string();
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd >= 0) {
            nlohmann::json j = {{"host", hostName()}, {"pid", ::getpid()}, {"started", std::time(nullptr)}};
            std::string content = j.dump() + "\n";
            bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
            ::fsync(fd);
            ::close(fd);
            if (!ok) throw std::runtime_error("cannot write the claim " + path + ": " + std::strerror(errno));
            return std::unique_ptr<JobClaim>(new JobClaim(path, content, staleSeconds));
        }
        if (errno != EEXIST) throw std::runtime_error("cannot create the claim " + path + ": " + std::strerror(errno));
        if (attempt > 0 || !isStale(path, staleSeconds)) return nullptr;
        // Take the stale claim away; of several takers only one rename succeeds, the others see it gone.
        std::string away = path + ".stale-" + hostName() + "-" + std::to_string(::getpid());
        if (::rename(path.c_str(), away.c_str()) != 0) return nullptr;
    }
    return nullptr;
}

JobClaim::JobClaim(std::string path, std::string content, double staleSeconds)
    : path_(std::move(path)), content_(std::move(content)) {
    auto period = std::chrono::milliseconds(static_cast<int64_t>(staleSeconds * 250));
    heartbeat_ = std::thread([this, period]() {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!wake_.wait_for(lock, period, [this] { return stop_; }))
            ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);  // now
    });
}

JobClaim::~JobClaim() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    heartbeat_.join();
    if (readText(path_) == content_) ::unlink(path_.c_str());  // still ours (not taken over as stale)
}

} // namespace VAEPlugin
