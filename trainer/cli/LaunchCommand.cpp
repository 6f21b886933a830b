#include "LaunchCommand.h"

#include "CommandRunner.h"

#include <CLI/CLI.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>

namespace VAEPlugin {

namespace {

volatile std::sig_atomic_t receivedSignal = 0;
void rememberSignal(int s) { receivedSignal = s; }

/** A port the kernel reports free now (bound to port 0 and released). */
int freePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno));
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

/** Exit status in the shell's convention: the code, or 128 + signal. */
int statusCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

} // namespace

int runLaunch(const LaunchOptions& o) {
    if (o.ranks < 1) throw std::invalid_argument("-n must be at least 1, got " + std::to_string(o.ranks));
    if (o.command.empty()) throw std::invalid_argument("give the command after --, e.g. launch -n 2 -- train ...");
    int port = o.masterPort > 0 ? o.masterPort : freePort();
    std::string self = "/proc/self/exe";
    char resolved[4096];
    ssize_t len = ::readlink(self.c_str(), resolved, sizeof resolved - 1);
    if (len > 0) self.assign(resolved, static_cast<size_t>(len));

    struct sigaction sa {};
    sa.sa_handler = rememberSignal;
    sigemptyset(&sa.sa_mask);
    struct sigaction oldInt {}, oldTerm {};
    sigaction(SIGINT, &sa, &oldInt);
    sigaction(SIGTERM, &sa, &oldTerm);

    std::map<pid_t, int> running;  // pid -> rank
    std::cout << std::flush;
    std::cerr << std::flush;
    for (int r = 0; r < o.ranks; r++) {
        pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (pid == 0) {
            sigaction(SIGINT, &oldInt, nullptr);
            sigaction(SIGTERM, &oldTerm, nullptr);
            ::setenv("RANK", std::to_string(r).c_str(), 1);
            ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
            ::setenv("WORLD_SIZE", std::to_string(o.ranks).c_str(), 1);
            ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.ranks).c_str(), 1);
            ::setenv("MASTER_ADDR", o.masterAddress.c_str(), 1);
            ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
            std::vector<std::string> args = {self};
            args.insert(args.end(), o.command.begin(), o.command.end());
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(self.c_str(), argv.data());
            std::fprintf(stderr, "openmm-vae launch: cannot start %s: %s\n", self.c_str(), std::strerror(errno));
            ::_exit(127);
        }
        running[pid] = r;
    }

    int result = 0;
    auto stopOthers = [&](int sig) {
        for (auto& [pid, rank] : running) ::kill(pid, sig);
    };
    bool stopping = false;
    auto deadline = std::chrono::steady_clock::time_point::max();
    while (!running.empty()) {
        if (receivedSignal && !stopping) {
            std::cerr << "openmm-vae launch: signal " << receivedSignal << ", stopping the ranks\n";
            stopOthers(receivedSignal);
            result = 128 + receivedSignal;
            stopping = true;
            deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(o.graceSeconds * 1000));
        }
        if (stopping && std::chrono::steady_clock::now() > deadline) {
            stopOthers(SIGKILL);
            deadline = std::chrono::steady_clock::time_point::max();
        }
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        if (pid < 0) break;
        auto it = running.find(pid);
        if (it == running.end()) continue;
        int rank = it->second;
        running.erase(it);
        int code = statusCode(status);
        if (code != 0 && !stopping) {
            std::cerr << "openmm-vae launch: rank " << rank << " failed ("
                      << (WIFEXITED(status) ? "exit status " + std::to_string(code)
                                            : "killed by signal " + std::to_string(WTERMSIG(status)))
                      << "); stopping the other " << running.size() << " rank(s)\n";
            result = code;
            stopping = true;
            stopOthers(SIGTERM);
            deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int(o.graceSeconds * 1000));
        }
    }
    sigaction(SIGINT, &oldInt, nullptr);
    sigaction(SIGTERM, &oldTerm, nullptr);
    return result;
}

void addLaunchCommand(CLI::App& app) {
    auto o = std::make_shared<LaunchOptions>();
    CLI::App* sub = app.add_subcommand(
        "launch", "Start N local ranks of a data-parallel command: launch -n 2 -- train --system mueller ...");
    sub->add_option("-n,--ranks", o->ranks, "Number of local ranks (WORLD_SIZE)")->capture_default_str();
    sub->add_option("--master-addr", o->masterAddress, "MASTER_ADDR given to the ranks")->capture_default_str();
    sub->add_option("--master-port", o->masterPort, "MASTER_PORT given to the ranks (default: a free port)");
    sub->add_option("--grace", o->graceSeconds, "Seconds between SIGTERM and SIGKILL when stopping ranks")
        ->capture_default_str();
    sub->add_option("command", o->command, "The openmm-vae command each rank runs (after --)")->required();
    sub->callback([o]() { runCommand("launch", 2, [&]() { return runLaunch(*o); }); });
}

} // namespace VAEPlugin
