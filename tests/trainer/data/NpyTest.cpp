// The .npy reader: valid files in every supported layout, and clear errors for bad ones.
#include "Dataset.h"
#include "Npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace VAEPlugin;

namespace {

std::string tempPath(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("vae-npy-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return (dir / name).string();
}

/** Writes a .npy file with a given header dict and raw data bytes (version 1.0). */
std::string writeRaw(const std::string& name, const std::string& dict, const std::string& data, int major = 1) {
    std::string header = dict;
    size_t pre = major == 1 ? 10 : 12;
    header += std::string((64 - (pre + header.size() + 1) % 64) % 64, ' ') + "\n";
    std::string path = tempPath(name);
    std::ofstream out(path, std::ios::binary);
    out.write("\x93NUMPY", 6);
    out.put(static_cast<char>(major));
    out.put(0);
    if (major == 1) {
        out.put(static_cast<char>(header.size() & 0xff));
        out.put(static_cast<char>(header.size() >> 8));
    } else {
        for (int k = 0; k < 4; k++) out.put(static_cast<char>((header.size() >> (8 * k)) & 0xff));
    }
    out << header << data;
    return path;
}

template <typename T>
std::string bytes(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string errorOf(const std::string& path) {
    try {
        readNpy(path);
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(Npy, RoundTripFloat64AndFloat32) {
    auto a = torch::arange(12, torch::kFloat64).reshape({4, 3}) / 7.0;
    auto p64 = tempPath("a64.npy"), p32 = tempPath("a32.npy");
    writeNpy(p64, a);
    writeNpy(p32, a, true);
    EXPECT_TRUE(torch::equal(readNpy(p64), a));
    EXPECT_TRUE(torch::allclose(readNpy(p32), a, 1e-7, 0));
    EXPECT_EQ(readNpy(p32).scalar_type(), torch::kFloat64);
}

TEST(Npy, FortranOrderBigEndianAndVersion2) {
    std::vector<double> colMajor = {1, 2, 3, 4, 5, 6};  // [3, 2] in Fortran order: columns (1,2,3), (4,5,6)
    auto f = readNpy(writeRaw("f.npy", "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2), }", bytes(colMajor)));
    EXPECT_TRUE(torch::equal(f, torch::tensor({{1.0, 4.0}, {2.0, 5.0}, {3.0, 6.0}}, torch::kFloat64)));

    std::vector<float> v = {1.5f, -2.25f};
    std::string be = bytes(v);
    for (size_t i = 0; i < be.size(); i += 4) std::reverse(be.begin() + i, be.begin() + i + 4);
    auto b = readNpy(writeRaw("be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }", be));
    EXPECT_DOUBLE_EQ(b[0][1].item<double>(), -2.25);

    auto v2 = readNpy(writeRaw("v2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", bytes(v), 2));
    EXPECT_DOUBLE_EQ(v2[0][0].item<double>(), 1.5);
}

TEST(Npy, ErrorsNameTheProblem) {
    std::vector<double> six = {1, 2, 3, 4, 5, 6};
    std::vector<int64_t> ints = {1, 2, 3, 4};
    struct Case {
        std::string name, dict, data, expected;
    };
    std::vector<Case> cases = {
        {"int.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", bytes(ints), "dtype '<i8'"},
        {"3d.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3), }", bytes(six), "not two-dimensional"},
        {"1d.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", bytes(six), "not two-dimensional"},
        {"empty.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 2), }", "", "empty"},
        {"short.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }", bytes(six), "shorter"},
        {"long.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", bytes(six), "trailing"},
        {"nokey.npy", "{'descr': '<f8', 'shape': (3, 2), }", bytes(six), "'fortran_order'"},
        {"badfo.npy", "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 2), }", bytes(six), "unsupported value"},
        {"garbage.npy", "descr <f8", bytes(six), "expected '{'"},
    };
    for (const auto& c : cases) {
        std::string path = writeRaw(c.name, c.dict, c.data);
        std::string msg = errorOf(path);
        EXPECT_NE(msg.find(c.expected), std::string::npos) << c.name << ": " << msg;
        EXPECT_NE(msg.find(path), std::string::npos) << c.name << ": message should name the file: " << msg;
    }
    std::string notNpy = tempPath("text.npy");
    std::ofstream(notNpy) << "hello world";
    EXPECT_NE(errorOf(notNpy).find("magic"), std::string::npos);
    EXPECT_NE(errorOf(tempPath("missing.npy")).find("cannot open"), std::string::npos);
}

TEST(Npy, NaNRowsAreNamed) {
    auto a = torch::zeros({6, 2}, torch::kFloat64);
    a[3][1] = NAN;
    a[5][0] = INFINITY;
    auto path = tempPath("nan.npy");
    writeNpy(path, a);
    std::string msg = errorOf(path);
    EXPECT_NE(msg.find("row 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2 row(s)"), std::string::npos) << msg;
}

TEST(Npy, DatasetFeatureKinds) {
    auto xy = tempPath("xy.npy"), pos = tempPath("pos.npy");
    writeNpy(xy, torch::tensor({{1.0, 2.0}, {3.0, 7.0}, {0.5, -1.0}}, torch::kFloat64));
    auto d = npyDataset(xy, FeatureKind::Polar, {}, {}, std::nullopt);
    EXPECT_EQ(d.features.periodic, (std::vector<bool>{false, true}));
    EXPECT_NEAR(d.data[1][1].item<double>(), 7.0 - 2 * M_PI, 1e-12);  // angles wrapped into [-pi, pi)
    EXPECT_EQ(npyDataset(xy, FeatureKind::XY, {}, {}, 300.0).features.names, (std::vector<std::string>{"x", "y"}));
    writeNpy(pos, torch::zeros({4, 6}, torch::kFloat64));
    auto p = npyDataset(pos, FeatureKind::Positions, {}, {4, 9}, std::nullopt);
    EXPECT_EQ(p.features.atoms, (std::vector<int>{4, 9}));
    EXPECT_EQ(p.features.numFeatures(), 6);
    EXPECT_THROW(npyDataset(pos, FeatureKind::XY, {}, {}, std::nullopt), std::invalid_argument);
    EXPECT_THROW(npyDataset(xy, FeatureKind::XY, {2}, {}, std::nullopt), std::invalid_argument);
    EXPECT_THROW(npyDataset(pos, FeatureKind::Positions, {}, {1, 2, 3}, std::nullopt), std::invalid_argument);
    EXPECT_THROW(npyDataset(xy, FeatureKind::Bat, {}, {}, std::nullopt), std::invalid_argument);
}
