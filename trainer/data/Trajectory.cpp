#include "Trajectory.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace VAEPlugin {

namespace {

std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string field(const std::string& line, size_t start, size_t length) {
    return start < line.size() ? trim(line.substr(start, length)) : "";
}

double coordinate(const std::string& line, size_t start, const std::string& where) {
    std::string text = field(line, start, 8);
    try {
        size_t used = 0;
        double v = std::stod(text, &used);
        if (used != text.size()) throw std::invalid_argument(text);
        return v;
    } catch (const std::exception&) {
        throw std::runtime_error(where + ": cannot read a coordinate from columns " + std::to_string(start + 1) + "-" +
                                 std::to_string(start + 8) + " ('" + text + "')");
    }
}

/** "CL" -> "Cl"; an element from an atom name (" CA " -> "C", "1HB" -> "H") when the element columns are blank. */
std::string elementSymbol(const std::string& elementColumns, const std::string& name) {
    std::string e;
    for (char c : elementColumns)
        if (std::isalpha(static_cast<unsigned char>(c))) e += c;
    if (e.empty())
        for (char c : name)
            if (std::isalpha(static_cast<unsigned char>(c))) {
                e = std::string(1, c);
                break;
            }
    if (e.empty()) return e;
    e[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(e[0])));
    for (size_t i = 1; i < e.size(); i++) e[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(e[i])));
    return e;
}

} // namespace

PdbTopology readPdb(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("topology " + path + ": cannot open it");
    PdbTopology top;
    std::map<long, int> serialToIndex;
    std::string line;
    int lineNumber = 0;
    bool ended = false;
    std::vector<std::pair<long, long>> conectSerials;
    std::vector<int> conectLines;
    while (std::getline(in, line)) {
        lineNumber++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::string record = line.substr(0, 6);
        std::string where = "topology " + path + " line " + std::to_string(lineNumber);
        if (record == "ENDMDL") ended = true;  // only the first model's atoms
        if ((record == "ATOM  " || record == "HETATM") && !ended) {
            if (line.size() < 54) throw std::runtime_error(where + ": ATOM/HETATM record shorter than 54 columns");
            std::string name = field(line, 12, 4);
            top.names.push_back(name);
            top.residues.push_back(field(line, 17, 3));
            top.elements.push_back(elementSymbol(line.size() > 76 ? line.substr(76, 2) : "", name));
            for (size_t start : {30, 38, 46}) top.positions.push_back(0.1 * coordinate(line, start, where));
            std::string serial = field(line, 6, 5);
            try {
                serialToIndex[std::stol(serial)] = top.numAtoms() - 1;
            } catch (const std::exception&) {
                // Serial numbers past 99999 are not numbers; CONECT cannot name such atoms anyway.
            }
        } else if (record == "CONECT") {
            long from = 0;
            try {
                from = std::stol(field(line, 6, 5));
            } catch (const std::exception&) {
                throw std::runtime_error(where + ": CONECT record without an atom serial number");
            }
            for (size_t start = 11; start + 5 <= line.size() + 4 && start < 31; start += 5) {
                std::string to = field(line, start, 5);
                if (to.empty()) continue;
                try {
                    conectSerials.emplace_back(from, std::stol(to));
                    conectLines.push_back(lineNumber);
                } catch (const std::exception&) {
                    throw std::runtime_error(where + ": CONECT record with a bad serial number '" + to + "'");
                }
            }
        }
    }
    if (top.numAtoms() == 0) throw std::runtime_error("topology " + path + ": no ATOM or HETATM records");
    for (size_t b = 0; b < conectSerials.size(); b++) {
        auto i = serialToIndex.find(conectSerials[b].first), j = serialToIndex.find(conectSerials[b].second);
        if (i == serialToIndex.end() || j == serialToIndex.end())
            throw std::runtime_error("topology " + path + " line " + std::to_string(conectLines[b]) +
                                     ": CONECT names an atom serial number that no ATOM/HETATM record has");
        if (i->second != j->second) top.conect.emplace_back(std::min(i->second, j->second), std::max(i->second, j->second));
    }
    return top;
}

namespace {

/** Reads one Fortran unformatted record (4-byte length markers before and after). */
class RecordReader {
public:
    RecordReader(std::istream& in, const std::string& path, int64_t size) : in_(in), path_(path), size_(size) {}
    std::string read(const std::string& what) {
        int32_t length = 0, trailer = 0;
        int64_t at = in_.tellg();
        if (at + 4 > size_) throw std::runtime_error(truncated(what, at));
        in_.read(reinterpret_cast<char*>(&length), 4);
        if (length < 0 || at + 8 + length > size_) throw std::runtime_error(truncated(what, at));
        std::string data(length, '\0');
        in_.read(data.data(), length);
        in_.read(reinterpret_cast<char*>(&trailer), 4);
        if (!in_) throw std::runtime_error(truncated(what, at));
        if (trailer != length)
            throw std::runtime_error("trajectory " + path_ + ": corrupt " + what + " record at byte " + std::to_string(at) +
                                     " (record markers " + std::to_string(length) + " and " + std::to_string(trailer) + ")");
        return data;
    }
    std::string truncated(const std::string& what, int64_t at) const {
        return "trajectory " + path_ + ": truncated " + what + " record at byte " + std::to_string(at) + " of " +
               std::to_string(size_);
    }

private:
    std::istream& in_;
    std::string path_;
    int64_t size_;
};

int32_t intAt(const std::string& data, size_t offset) {
    int32_t v;
    std::memcpy(&v, data.data() + offset, 4);
    return v;
}

} // namespace

torch::Tensor readDcd(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("trajectory " + path + ": cannot open it");
    in.seekg(0, std::ios::end);
    int64_t size = in.tellg();
    in.seekg(0);
    int32_t first = 0;
    in.read(reinterpret_cast<char*>(&first), 4);
    if (!in || first != 84) {
        bool swapped = first == 0x54000000;
        throw std::runtime_error("trajectory " + path + ": not a DCD file written by OpenMM (" +
                                 (swapped ? std::string("big-endian DCD files are not supported")
                                          : "the first record is not the 84-byte CORD header") + ")");
    }
    in.seekg(0);
    RecordReader records(in, path, size);
    std::string header = records.read("header");
    if (header.compare(0, 4, "CORD") != 0) throw std::runtime_error("trajectory " + path + ": header does not start with CORD");
    bool hasUnitCell = intAt(header, 4 + 4 * 10) != 0;
    records.read("title");
    std::string atomsRecord = records.read("atom count");
    if (atomsRecord.size() != 4) throw std::runtime_error("trajectory " + path + ": atom-count record is not 4 bytes");
    int32_t numAtoms = intAt(atomsRecord, 0);
    if (numAtoms <= 0) throw std::runtime_error("trajectory " + path + ": atom count " + std::to_string(numAtoms) + " in the header");
    int64_t start = in.tellg();
    int64_t frameBytes = (hasUnitCell ? 56 : 0) + 3 * (8 + 4 * int64_t(numAtoms));
    int64_t numFrames = (size - start) / frameBytes;
    if ((size - start) % frameBytes != 0)
        throw std::runtime_error("trajectory " + path + ": truncated: " + std::to_string(size - start - numFrames * frameBytes) +
                                 " bytes after the last of " + std::to_string(numFrames) + " complete frames (" +
                                 std::to_string(frameBytes) + " bytes each)");
    if (numFrames == 0) throw std::runtime_error("trajectory " + path + ": no frames");
    torch::Tensor frames = torch::empty({numFrames, numAtoms, 3}, torch::kFloat64);
    auto out = frames.accessor<double, 3>();
    for (int64_t f = 0; f < numFrames; f++) {
        std::string label = "frame " + std::to_string(f);
        if (hasUnitCell) records.read(label + " unit cell");
        for (int d = 0; d < 3; d++) {
            std::string data = records.read(label + " coordinates");
            if (data.size() != 4 * size_t(numAtoms))
                throw std::runtime_error("trajectory " + path + ": " + label + " holds " + std::to_string(data.size() / 4) +
                                         " coordinates, the header says " + std::to_string(numAtoms) + " atoms");
            for (int32_t a = 0; a < numAtoms; a++) {
                float v;
                std::memcpy(&v, data.data() + 4 * a, 4);
                out[f][a][d] = 0.1 * v;  // Angstrom -> nm
            }
        }
    }
    return frames;
}

} // namespace VAEPlugin
