#include "Base64.h"
#include "openmm/OpenMMException.h"

namespace {
const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string VAEPlugin::encodeBase64(const std::string& bytes) {
    std::string out;
    out.reserve(4 * ((bytes.size() + 2) / 3));
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        unsigned v = ((unsigned char) bytes[i] << 16) | ((unsigned char) bytes[i + 1] << 8) | (unsigned char) bytes[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    size_t rest = bytes.size() - i;
    if (rest > 0) {
        unsigned v = (unsigned char) bytes[i] << 16;
        if (rest == 2)
            v |= (unsigned char) bytes[i + 1] << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string VAEPlugin::decodeBase64(const std::string& text) {
    if (text.size() % 4 != 0)
        throw OpenMM::OpenMMException("base64 data has a length that is not a multiple of 4");
    int table[256];
    for (int& t : table)
        t = -1;
    for (int k = 0; k < 64; k++)
        table[(unsigned char) alphabet[k]] = k;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (size_t i = 0; i < text.size(); i += 4) {
        int v[4], padding = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = text[i + k];
            if (c == '=' && i + 4 == text.size() && k >= 2) {
                v[k] = 0;
                padding++;
            }
            else if (padding > 0 || table[c] < 0)
                throw OpenMM::OpenMMException("base64 data holds an invalid character at offset " + std::to_string(i + k));
            else
                v[k] = table[c];
        }
        unsigned bits = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        out += (char) ((bits >> 16) & 255);
        if (padding < 2)
            out += (char) ((bits >> 8) & 255);
        if (padding < 1)
            out += (char) (bits & 255);
    }
    return out;
}
