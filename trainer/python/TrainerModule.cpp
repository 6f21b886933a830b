// openmmvae._trainer: the openmm-vae command run in the calling Python process (the Python API in
// openmmvae/training.py builds its arguments). Nothing is computed here: this file passes arguments in,
// and epochs, output lines, errors and Ctrl-C across the language boundary.
#include "Cli.h"
#include "TrainingMonitor.h"

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <iostream>
#include <memory>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace VAEPlugin;

namespace {

/** A stream buffer that hands every complete line to a Python callable (taking the GIL for it). */
class LineForwarder : public std::streambuf {
public:
    explicit LineForwarder(py::object callback) : callback_(std::move(callback)) {}
    /** Sends the last line if it had no newline; rethrows the first exception the callable raised. */
    void finish() {
        flushLine();
        if (failure_) throw *failure_;
    }

protected:
    int overflow(int c) override {
        if (c == traits_type::eof()) return traits_type::not_eof(c);
        if (c == '\n') flushLine();
        else line_.push_back(static_cast<char>(c));
        return c;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        for (std::streamsize i = 0; i < n; i++) overflow(static_cast<unsigned char>(s[i]));
        return n;
    }
    int sync() override { return 0; }

private:
    void flushLine() {
        if (line_.empty()) return;
        std::string text;
        text.swap(line_);
        py::gil_scoped_acquire gil;
        if (failure_) return;
        try {
            callback_(text);
        } catch (py::error_already_set& e) {
            failure_.reset(new py::error_already_set(std::move(e)));
        }
    }
    py::object callback_;
    std::string line_;
    std::unique_ptr<py::error_already_set> failure_;
};

/** Points a standard stream at another buffer for one scope. */
class Redirect {
public:
    Redirect(std::ostream& stream, std::streambuf* buffer) : stream_(stream), old_(stream.rdbuf(buffer)) {}
    ~Redirect() {
        stream_.flush();
        stream_.rdbuf(old_);
    }

private:
    std::ostream& stream_;
    std::streambuf* old_;
};

py::dict progressDict(const EpochProgress& p) {
    py::dict d;
    d["replica"] = p.replica;
    d["replicas"] = p.replicas;
    d["stage"] = p.stage;
    d["stage_index"] = p.stageIndex;
    d["stages"] = p.stages;
    d["prior"] = p.prior;
    d["epoch"] = p.epoch;
    d["epochs"] = p.epochs;
    d["run_epochs_done"] = p.runEpochsDone;
    d["run_epochs"] = p.runEpochs;
    d["beta"] = p.beta;
    d["loss"] = p.loss;
    d["validation_loss"] = p.validationLoss;
    d["samples_per_second"] = p.samplesPerSecond;
    return d;
}

/**
 * Runs `openmm-vae ARGS` in this process. Returns (status, error text, interrupted): error text is
 * what the command wrote to standard error; interrupted is true when Ctrl-C (or an exception of a
 * callable) stopped it at a checkpoint. Exceptions raised by on_epoch or on_output are re-raised.
 */
py::tuple run(const std::vector<std::string>& args, py::object onEpoch, py::object onOutput) {
    bool interrupted = false;
    std::unique_ptr<py::error_already_set> callbackFailure;
    TrainingMonitor monitor;
    monitor.stopRequested = [&]() {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {  // Ctrl-C: Python's handler raised KeyboardInterrupt
            PyErr_Clear();
            interrupted = true;
        }
        return interrupted || callbackFailure != nullptr;
    };
    if (!onEpoch.is_none()) {
        monitor.epochDone = [&](const EpochProgress& p) {
            py::gil_scoped_acquire gil;
            if (callbackFailure) return;
            try {
                onEpoch(progressDict(p));
            } catch (py::error_already_set& e) {
                callbackFailure.reset(new py::error_already_set(std::move(e)));
            }
        };
    }
    std::ostringstream errors;
    int status;
    std::unique_ptr<LineForwarder> forwarder;
    if (!onOutput.is_none()) forwarder.reset(new LineForwarder(onOutput));
    {
        py::gil_scoped_release release;
        Redirect err(std::cerr, errors.rdbuf());
        std::unique_ptr<Redirect> out(forwarder ? new Redirect(std::cout, forwarder.get()) : nullptr);
        status = runCli(args, &monitor);
        std::cout.flush();
    }
    if (forwarder) forwarder->finish();
    if (callbackFailure) throw *callbackFailure;
    return py::make_tuple(status, errors.str(), interrupted);
}

py::list options(const std::string& subcommand) {
    py::list out;
    for (const CliOption& o : cliOptions(subcommand)) {
        py::dict d;
        d["name"] = o.name;
        d["group"] = o.group;
        d["default"] = o.defaultText;
        d["help"] = o.help;
        d["takes_value"] = o.takesValue;
        d["positional"] = o.positional;
        out.append(d);
    }
    return out;
}

} // namespace

PYBIND11_MODULE(_trainer, m) {
    m.doc() = "The openmm-vae command in-process (used by openmmvae.train, openmmvae.sweep and TrainingResult.metrics).";
    m.def("run", &run, py::arg("args"), py::arg("on_epoch") = py::none(), py::arg("on_output") = py::none(),
          "Runs openmm-vae ARGS here; returns (status, standard error text, interrupted).");
    m.def("options", &options, py::arg("subcommand"),
          "The long options of a subcommand (train, metrics, sweep): name, group, default, help, takes_value, positional.");
}
