#ifndef OPENMM_VAE_TESTS_DCDWRITER_H_
#define OPENMM_VAE_TESTS_DCDWRITER_H_

// A DCD writer for tests (the trainer only reads DCD): the layout openmm.app.DCDFile writes.

#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace VAETest {

/** One Fortran record: length, bytes, length. */
inline void dcdRecord(std::ofstream& out, const void* data, int32_t bytes) {
    out.write(reinterpret_cast<const char*>(&bytes), 4);
    out.write(reinterpret_cast<const char*>(data), bytes);
    out.write(reinterpret_cast<const char*>(&bytes), 4);
}

/** A DCD laid out as openmm.app.DCDFile writes it; frames [F, n, 3] in nm. */
inline void writeDcd(const std::string& path, const torch::Tensor& frames, bool unitCell) {
    std::ofstream out(path, std::ios::binary);
    int32_t n = frames.size(1);
    char header[84] = {};
    std::memcpy(header, "CORD", 4);
    int32_t icntrl[20] = {};
    icntrl[0] = frames.size(0);
    icntrl[10] = unitCell ? 1 : 0;
    icntrl[19] = 24;
    std::memcpy(header + 4, icntrl, 80);
    dcdRecord(out, header, 84);
    char title[164] = {};
    int32_t lines = 2;
    std::memcpy(title, &lines, 4);
    dcdRecord(out, title, 164);
    dcdRecord(out, &n, 4);
    for (int64_t f = 0; f < frames.size(0); f++) {
        if (unitCell) {
            double cell[6] = {20, 0, 20, 0, 0, 20};
            dcdRecord(out, cell, 48);
        }
        for (int d = 0; d < 3; d++) {
            std::vector<float> c(n);
            for (int a = 0; a < n; a++) c[a] = static_cast<float>(10 * frames[f][a][d].item<double>());
            dcdRecord(out, c.data(), 4 * n);
        }
    }
}

} // namespace VAETest

#endif
