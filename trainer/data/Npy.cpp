#include "Npy.h"

#include "AtomicFile.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace VAEPlugin {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw std::runtime_error(path + ": not a valid .npy array: " + what);
}

/** A value of the header dictionary: a string, a boolean or a tuple of integers. */
struct HeaderValue {
    enum Kind { String, Bool, Tuple } kind = String;
    std::string text;
    bool flag = false;
    std::vector<int64_t> tuple;
};

/** Parser for the Python dict literal of the .npy header. */
class HeaderParser {
public:
    HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

    std::map<std::string, HeaderValue> parse() {
        std::map<std::string, HeaderValue> dict;
        skip();
        expect('{');
        skip();
        while (peek() != '}') {
            std::string key = parseString();
            skip();
            expect(':');
            skip();
            if (dict.count(key)) fail(path_, "header repeats the key '" + key + "'");
            dict[key] = parseValue();
            skip();
            if (peek() == ',') {
                pos_++;
                skip();
            } else if (peek() != '}') {
                fail(path_, "header: expected ',' or '}' at character " + std::to_string(pos_));
            }
        }
        pos_++;
        skip();
        if (pos_ != s_.size()) fail(path_, "header: unexpected text after the dictionary");
        return dict;
    }

private:
    char peek() const {
        if (pos_ >= s_.size()) fail(path_, "header ends early");
        return s_[pos_];
    }
    void skip() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) pos_++;
    }
    void expect(char c) {
        if (peek() != c) fail(path_, std::string("header: expected '") + c + "' at character " + std::to_string(pos_));
        pos_++;
    }
    std::string parseString() {
        char quote = peek();
        if (quote != '\'' && quote != '"') fail(path_, "header: expected a quoted key at character " + std::to_string(pos_));
        pos_++;
        size_t end = s_.find(quote, pos_);
        if (end == std::string::npos) fail(path_, "header: unterminated string");
        std::string out = s_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return out;
    }
    HeaderValue parseValue() {
        HeaderValue v;
        char c = peek();
        if (c == '\'' || c == '"') {
            v.kind = HeaderValue::String;
            v.text = parseString();
        } else if (s_.compare(pos_, 4, "True") == 0) {
            v.kind = HeaderValue::Bool;
            v.flag = true;
            pos_ += 4;
        } else if (s_.compare(pos_, 5, "False") == 0) {
            v.kind = HeaderValue::Bool;
            v.flag = false;
            pos_ += 5;
        } else if (c == '(') {
            v.kind = HeaderValue::Tuple;
            pos_++;
            skip();
            while (peek() != ')') {
                size_t start = pos_;
                while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) pos_++;
                if (start == pos_) fail(path_, "header: bad shape entry at character " + std::to_string(pos_));
                if (pos_ - start > 15) fail(path_, "header: shape entry " + s_.substr(start, pos_ - start) + " is too large");
                v.tuple.push_back(std::stoll(s_.substr(start, pos_ - start)));
                if (pos_ < s_.size() && s_[pos_] == 'L') pos_++;  // Python 2 long
                skip();
                if (peek() == ',') {
                    pos_++;
                    skip();
                } else if (peek() != ')') {
                    fail(path_, "header: bad shape tuple");
                }
            }
            pos_++;
        } else {
            fail(path_, "header: unsupported value at character " + std::to_string(pos_));
        }
        return v;
    }

    const std::string& s_;
    const std::string& path_;
    size_t pos_ = 0;
};

bool hostIsLittleEndian() {
    uint16_t one = 1;
    unsigned char first;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

template <typename T>
void byteSwap(std::vector<char>& buffer) {
    for (size_t i = 0; i + sizeof(T) <= buffer.size(); i += sizeof(T))
        for (size_t k = 0; k < sizeof(T) / 2; k++) std::swap(buffer[i + k], buffer[i + sizeof(T) - 1 - k]);
}

} // namespace

namespace {

/** readNpy, and with `positions` also a C-order [frames, atoms, 3] array read as [frames, 3 atoms]. */
torch::Tensor readNpyRows(const std::string& path, bool positions) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open the file for reading");
    char magic[6];
    if (!in.read(magic, 6) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail(path, "missing the \\x93NUMPY magic string");
    unsigned char version[2];
    if (!in.read(reinterpret_cast<char*>(version), 2)) fail(path, "file ends in the preamble");
    uint32_t headerLength = 0;
    if (version[0] == 1) {
        unsigned char b[2];
        if (!in.read(reinterpret_cast<char*>(b), 2)) fail(path, "file ends in the preamble");
        headerLength = b[0] | (b[1] << 8);
    } else if (version[0] == 2 || version[0] == 3) {
        unsigned char b[4];
        if (!in.read(reinterpret_cast<char*>(b), 4)) fail(path, "file ends in the preamble");
        headerLength = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
    } else {
        fail(path, "unsupported format version " + std::to_string(version[0]) + "." + std::to_string(version[1]));
    }
    if (headerLength > (1u << 24)) fail(path, "implausible header length " + std::to_string(headerLength));
    std::string header(headerLength, '\0');
    if (!in.read(&header[0], headerLength)) fail(path, "file ends inside the header");

    auto dict = HeaderParser(header, path).parse();
    for (const char* key : {"descr", "fortran_order", "shape"})
        if (!dict.count(key)) fail(path, std::string("header has no '") + key + "' key");
    if (dict.size() != 3) fail(path, "header has keys other than 'descr', 'fortran_order', 'shape'");
    const auto& descr = dict["descr"];
    const auto& fortran = dict["fortran_order"];
    const auto& shape = dict["shape"];
    if (descr.kind != HeaderValue::String) fail(path, "'descr' is not a string");
    if (fortran.kind != HeaderValue::Bool) fail(path, "'fortran_order' is not True or False");
    if (shape.kind != HeaderValue::Tuple) fail(path, "'shape' is not a tuple");

    std::string d = descr.text;
    if (d.size() != 3 || (d[0] != '<' && d[0] != '>' && d[0] != '=') || d[1] != 'f' || (d[2] != '4' && d[2] != '8'))
        fail(path, "dtype '" + d + "' is not supported (expected float32 '<f4' or float64 '<f8')");
    int itemSize = d[2] - '0';
    bool littleFile = d[0] == '<' || (d[0] == '=' && hostIsLittleEndian());

    std::vector<int64_t> dims = shape.tuple;
    if (positions && dims.size() == 3 && dims[2] == 3 && !fortran.flag && dims[1] >= 1 && dims[1] < (int64_t(1) << 30))
        dims = {dims[0], 3 * dims[1]};
    if (dims.size() != 2) {
        std::string s;
        for (auto v : shape.tuple) s += (s.empty() ? "" : ", ") + std::to_string(v);
        fail(path, "shape (" + s + ") is not " +
                       (positions ? "[frames, atoms, 3] (C order) or [frames, 3 atoms]" : "two-dimensional [samples, features]"));
    }
    int64_t n = dims[0], dim = dims[1];
    if (n < 1 || dim < 1)
        fail(path, "shape (" + std::to_string(n) + ", " + std::to_string(dim) + ") is empty");
    if (n > (int64_t(1) << 40) / dim) fail(path, "shape is too large");

    size_t bytes = size_t(n) * size_t(dim) * size_t(itemSize);
    // Compare with what the file holds before allocating: a header may claim terabytes.
    std::streamoff dataStart = in.tellg();
    in.seekg(0, std::ios::end);
    std::streamoff available = in.tellg() - dataStart;
    in.seekg(dataStart);
    if (available < 0 || size_t(available) < bytes)
        fail(path, "file is shorter than the shape (" + std::to_string(n) + ", " + std::to_string(dim) +
                       ") and dtype need (" + std::to_string(bytes) + " data bytes, the file has " +
                       std::to_string(std::max<std::streamoff>(available, 0)) + ")");
    std::vector<char> buffer(bytes);
    if (!in.read(buffer.data(), bytes))
        fail(path, "file is shorter than the shape (" + std::to_string(n) + ", " + std::to_string(dim) +
                       ") and dtype need (" + std::to_string(bytes) + " data bytes)");
    in.peek();
    if (!in.eof()) fail(path, "file has trailing bytes after the array data");
    if (littleFile != hostIsLittleEndian()) {
        if (itemSize == 4)
            byteSwap<float>(buffer);
        else
            byteSwap<double>(buffer);
    }

    torch::Tensor raw;
    auto dtype = itemSize == 4 ? torch::kFloat32 : torch::kFloat64;
    if (fortran.flag)
        raw = torch::from_blob(buffer.data(), {dim, n}, dtype).t();
    else
        raw = torch::from_blob(buffer.data(), {n, dim}, dtype);
    torch::Tensor out = raw.to(torch::kFloat64).contiguous().clone();

    auto finite = torch::isfinite(out);
    if (!finite.all().item<bool>()) {
        auto bad = torch::nonzero(finite.logical_not());
        int64_t row = bad[0][0].item<int64_t>(), col = bad[0][1].item<int64_t>();
        int64_t badRows = finite.logical_not().any(1).sum().item<int64_t>();
        std::ostringstream msg;
        msg << path << ": row " << row << " (0-based) has a non-finite value (" << out[row][col].item<double>()
            << " in column " << col << "); " << badRows << " row(s) in all have NaN or infinite values";
        throw std::runtime_error(msg.str());
    }
    return out;
}

} // namespace

torch::Tensor readNpy(const std::string& path) { return readNpyRows(path, false); }

torch::Tensor readNpyPositions(const std::string& path) {
    torch::Tensor rows = readNpyRows(path, true);
    if (rows.size(1) % 3 != 0)
        fail(path, "positions need 3 columns per atom, but the array has " + std::to_string(rows.size(1)) + " columns");
    return rows.reshape({rows.size(0), rows.size(1) / 3, 3});
}

void writeNpy(const std::string& path, const torch::Tensor& array, bool float32) {
    if (array.dim() != 2) throw std::invalid_argument("writeNpy: expected a two-dimensional tensor");
    auto data = array.to(torch::kCPU, float32 ? torch::kFloat32 : torch::kFloat64).contiguous();
    std::string header = std::string("{'descr': '<") + (float32 ? "f4" : "f8") + "', 'fortran_order': False, 'shape': (" +
                         std::to_string(data.size(0)) + ", " + std::to_string(data.size(1)) + "), }";
    size_t total = 10 + header.size() + 1;
    header += std::string((64 - total % 64) % 64, ' ') + "\n";
    std::string bytes("\x93NUMPY\x01\x00", 8);
    uint16_t len = static_cast<uint16_t>(header.size());
    bytes += static_cast<char>(len & 0xff);
    bytes += static_cast<char>(len >> 8);
    bytes += header;
    bytes.append(static_cast<const char*>(data.data_ptr()), data.numel() * data.element_size());
    writeFileAtomically(path, bytes);
}

} // namespace VAEPlugin
