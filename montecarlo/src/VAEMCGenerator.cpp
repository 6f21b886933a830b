#include "VAEMCGenerator.h"

#include <sstream>
#include <stdexcept>

#ifdef OPENMMVAE_WITH_TORCH
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <mutex>
#endif

namespace VAEPlugin {

#ifdef OPENMMVAE_WITH_TORCH

VAEMCGenerator::VAEMCGenerator(uint64_t seed) : generator_(at::detail::createCPUGenerator(seed)) {}

uint64_t VAEMCGenerator::random64() {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    return at::check_generator<at::CPUGeneratorImpl>(generator_)->random64();
}

std::string VAEMCGenerator::state() const {
    torch::Tensor s = const_cast<at::Generator&>(generator_).get_state().contiguous();
    return std::string(reinterpret_cast<const char*>(s.data_ptr<uint8_t>()), s.numel());
}

void VAEMCGenerator::setState(const std::string& bytes) {
    torch::Tensor s = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
    std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(s.data_ptr<uint8_t>()));
    try {
        generator_.set_state(s);
    } catch (const std::exception&) {
        throw std::invalid_argument("not a move generator state of a build with LibTorch");
    }
}

#else

namespace {
const char* kStateTag = "mt19937 ";
}

VAEMCGenerator::VAEMCGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed)) {}

uint64_t VAEMCGenerator::random64() {
    const uint64_t first = engine_(), second = engine_();
    return (first << 32) | second;
}

std::string VAEMCGenerator::state() const {
    std::ostringstream out;
    out << kStateTag << engine_;
    return out.str();
}

void VAEMCGenerator::setState(const std::string& bytes) {
    const std::string tag = kStateTag;
    std::istringstream in(bytes.compare(0, tag.size(), tag) == 0 ? bytes.substr(tag.size()) : std::string());
    std::mt19937 engine;
    if (bytes.compare(0, tag.size(), tag) != 0 || !(in >> engine))
        throw std::invalid_argument("not a move generator state of a build without LibTorch");
    engine_ = engine;
}

#endif

} // namespace VAEPlugin
