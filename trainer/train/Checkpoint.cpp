#include "Checkpoint.h"

#include "AtomicFile.h"

#include <sstream>
#include <type_traits>
#include <utility>

namespace VAEPlugin {

namespace {

/** The key torch::optim::Adam files a parameter's state under (a string in LibTorch 1.x, a pointer in 2.x). */
using AdamStateKey = std::decay_t<decltype(std::declval<torch::optim::Adam&>().state())>::key_type;
template <typename Key>
Key stateKey(const torch::Tensor& p) {
    if constexpr (std::is_same_v<Key, std::string>) {
        std::ostringstream s;  // what c10::guts::to_string(p.unsafeGetTensorImpl()) gives
        s << p.unsafeGetTensorImpl();
        return s.str();
    } else {
        return static_cast<Key>(p.unsafeGetTensorImpl());
    }
}
AdamStateKey adamKey(const torch::Tensor& p) { return stateKey<AdamStateKey>(p); }

} // namespace

void saveCheckpoint(const std::string& path, const Checkpoint& c, const torch::jit::Module& model,
                    torch::optim::Adam& optimizer, const std::vector<torch::Tensor>& optimized) {
    torch::serialize::OutputArchive archive;
    nlohmann::json meta;
    meta["stage"] = c.stage;
    meta["epoch"] = c.epoch;
    meta["config"] = c.config;
    meta["rows"] = nlohmann::json::array();
    for (const auto& r : c.rows) meta["rows"].push_back(r.toJson());
    meta["prior_rows"] = c.priorRows;
    archive.write("meta", c10::IValue(meta.dump()));
    for (const auto& p : model.named_parameters(true)) archive.write("param." + p.name, p.value.detach().cpu());
    for (const auto& b : model.named_buffers(true)) archive.write("buffer." + b.name, b.value.detach().cpu(), true);
    auto& state = optimizer.state();
    for (size_t i = 0; i < optimized.size(); i++) {
        auto it = state.find(adamKey(optimized[i]));
        if (it == state.end()) continue;
        auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
        std::string k = "adam." + std::to_string(i) + ".";
        archive.write(k + "step", torch::tensor(s.step(), torch::kInt64));
        archive.write(k + "exp_avg", s.exp_avg().cpu());
        archive.write(k + "exp_avg_sq", s.exp_avg_sq().cpu());
    }
    writeFileAtomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

Checkpoint readCheckpoint(const std::string& path) {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue metaValue;
    archive.read("meta", metaValue);
    auto meta = nlohmann::json::parse(metaValue.toStringRef());
    Checkpoint c;
    c.stage = meta["stage"];
    c.epoch = meta["epoch"];
    c.config = meta["config"];
    for (const auto& r : meta["rows"]) c.rows.push_back(EpochLosses::fromJson(r));
    c.priorRows = meta["prior_rows"].get<std::vector<PriorEpochLosses>>();
    return c;
}

void loadCheckpointState(const std::string& path, torch::jit::Module& model, torch::optim::Adam& optimizer,
                         const std::vector<torch::Tensor>& optimized) {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::NoGradGuard guard;
    for (const auto& p : model.named_parameters(true)) {
        torch::Tensor t;
        archive.read("param." + p.name, t);
        p.value.copy_(t);
    }
    for (const auto& b : model.named_buffers(true)) {
        torch::Tensor t;
        if (archive.try_read("buffer." + b.name, t, true)) b.value.copy_(t);
    }
    auto& state = optimizer.state();
    for (size_t i = 0; i < optimized.size(); i++) {
        std::string k = "adam." + std::to_string(i) + ".";
        torch::Tensor step, m, v;
        if (!archive.try_read(k + "step", step)) continue;
        archive.read(k + "exp_avg", m);
        archive.read(k + "exp_avg_sq", v);
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(step.item<int64_t>());
        s->exp_avg(m.to(optimized[i].options()).clone());
        s->exp_avg_sq(v.to(optimized[i].options()).clone());
        state[adamKey(optimized[i])] = std::move(s);
    }
}

} // namespace VAEPlugin
