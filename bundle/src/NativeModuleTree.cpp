#include "NativeModuleTree.h"
#include "BundleArchive.h"
#include "VAEModelBundle.h"

#include <cstring>

namespace VAEPlugin {

namespace {

size_t elementSize(const std::string& dtype) {
    if (dtype == "float64" || dtype == "int64") return 8;
    if (dtype == "float32") return 4;
    if (dtype == "bool") return 1;
    return 0;
}

bool littleEndianHost() {
    const uint16_t one = 1;
    unsigned char first;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

} // namespace

bool NativeModuleTree::has(const std::string& name) const {
    return values_.count(name) || arrays_.count(name) || children_.count(name);
}

const NativeModuleTree& NativeModuleTree::child(const std::string& name) const {
    auto it = children_.find(name);
    if (it == children_.end()) throw BundleError("the bundle has no submodule '" + name + "'");
    return it->second;
}

const nlohmann::json& NativeModuleTree::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw BundleError("the bundle has no attribute '" + name + "'");
    return it->second;
}

int64_t NativeModuleTree::integer(const std::string& name) const {
    const nlohmann::json& v = value(name);
    if (!v.is_number_integer()) throw BundleError("the bundle's attribute '" + name + "' is not an integer");
    return v.get<int64_t>();
}

double NativeModuleTree::real(const std::string& name) const {
    const nlohmann::json& v = value(name);
    if (!v.is_number()) throw BundleError("the bundle's attribute '" + name + "' is not a number");
    return v.get<double>();
}

bool NativeModuleTree::boolean(const std::string& name) const {
    const nlohmann::json& v = value(name);
    if (!v.is_boolean()) throw BundleError("the bundle's attribute '" + name + "' is not a bool");
    return v.get<bool>();
}

const std::string& NativeModuleTree::string(const std::string& name) const {
    const nlohmann::json& v = value(name);
    if (!v.is_string()) throw BundleError("the bundle's attribute '" + name + "' is not a string");
    return v.get_ref<const std::string&>();
}

std::vector<int64_t> NativeModuleTree::integers(const std::string& name) const {
    std::vector<int64_t> result;
    if (auto a = arrays_.find(name); a != arrays_.end()) {
        if (a->second.dtype != "int64" && a->second.dtype != "bool")
            throw BundleError("the bundle's tensor '" + name + "' is not an integer tensor");
        for (double v : a->second.values) result.push_back(static_cast<int64_t>(v));
        return result;
    }
    const nlohmann::json& v = value(name);
    if (!v.is_array()) throw BundleError("the bundle's attribute '" + name + "' is not a list");
    for (const auto& x : v) {
        if (!x.is_number_integer()) throw BundleError("the bundle's attribute '" + name + "' is not a list of integers");
        result.push_back(x.get<int64_t>());
    }
    return result;
}

std::vector<bool> NativeModuleTree::booleans(const std::string& name) const {
    const nlohmann::json& v = value(name);
    std::vector<bool> result;
    if (!v.is_array()) throw BundleError("the bundle's attribute '" + name + "' is not a list");
    for (const auto& x : v) {
        if (!x.is_boolean()) throw BundleError("the bundle's attribute '" + name + "' is not a list of bools");
        result.push_back(x.get<bool>());
    }
    return result;
}

const NativeModuleTree::Array& NativeModuleTree::array(const std::string& name) const {
    auto it = arrays_.find(name);
    if (it == arrays_.end()) throw BundleError("the bundle has no tensor '" + name + "'");
    return it->second;
}

void NativeModuleTree::writeNode(nlohmann::json& node, std::string& data) const {
    node = {{"attributes", nlohmann::json::object()}, {"arrays", nlohmann::json::object()}, {"modules", nlohmann::json::object()}};
    for (const auto& [name, v] : values_) node["attributes"][name] = v;
    for (const auto& [name, a] : arrays_) {
        const size_t size = elementSize(a.dtype);
        node["arrays"][name] = {{"dtype", a.dtype}, {"shape", a.shape}, {"offset", data.size()}, {"parameter", a.parameter}};
        for (double v : a.values) {
            char bytes[8];
            if (a.dtype == "float64") std::memcpy(bytes, &v, 8);
            else if (a.dtype == "float32") { const float f = static_cast<float>(v); std::memcpy(bytes, &f, 4); }
            else if (a.dtype == "int64") { const int64_t i = static_cast<int64_t>(v); std::memcpy(bytes, &i, 8); }
            else bytes[0] = v != 0 ? 1 : 0;
            data.append(bytes, size);
        }
    }
    for (const auto& [name, c] : children_) c.writeNode(node["modules"][name], data);
}

void NativeModuleTree::write(nlohmann::json& description, std::string& data) const {
    if (!littleEndianHost()) throw BundleError("the native section is written little-endian; this host is not");
    data.clear();
    nlohmann::json root;
    writeNode(root, data);
    description = {{"layout", "native-module-tree-1"}, {"data_sha256", BundleArchive::sha256(data)}, {"data_size", data.size()},
                   {"module", root}};
}

NativeModuleTree NativeModuleTree::readNode(const nlohmann::json& node, const std::string& data, const std::string& path) {
    NativeModuleTree tree;
    for (const char* key : {"attributes", "arrays", "modules"})
        if (!node.contains(key) || !node[key].is_object()) throw BundleError("its native section has no '" + std::string(key) + "' at " + path);
    for (const auto& [name, v] : node["attributes"].items()) tree.values_[name] = v;
    for (const auto& [name, a] : node["arrays"].items()) {
        Array array;
        const std::string where = "the native array " + path + name;
        if (!a.is_object() || !a.contains("dtype") || !a["dtype"].is_string() || !a.contains("shape") || !a["shape"].is_array() ||
            !a.contains("offset") || !a["offset"].is_number_unsigned())
            throw BundleError(where + " has no valid dtype, shape and offset");
        array.dtype = a["dtype"].get<std::string>();
        array.parameter = a.value("parameter", false);
        const size_t size = elementSize(array.dtype);
        if (size == 0) throw BundleError(where + " has an unknown dtype '" + array.dtype + "'");
        uint64_t count = 1;
        for (const auto& d : a["shape"]) {
            if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 32)) throw BundleError(where + " has an invalid shape");
            array.shape.push_back(d.get<int64_t>());
            count *= d.get<uint64_t>();
            if (count > (1ull << 32)) throw BundleError(where + " is too large");
        }
        const uint64_t offset = a["offset"].get<uint64_t>();
        if (offset > data.size() || count * size > data.size() - offset)
            throw BundleError(where + " lies outside the native data (" + std::to_string(data.size()) + " bytes)");
        array.values.resize(count);
        const char* p = data.data() + offset;
        for (uint64_t i = 0; i < count; i++, p += size) {
            if (array.dtype == "float64") std::memcpy(&array.values[i], p, 8);
            else if (array.dtype == "float32") { float f; std::memcpy(&f, p, 4); array.values[i] = f; }
            else if (array.dtype == "int64") { int64_t v; std::memcpy(&v, p, 8); array.values[i] = static_cast<double>(v); }
            else array.values[i] = *p != 0 ? 1.0 : 0.0;
        }
        tree.arrays_[name] = std::move(array);
    }
    for (const auto& [name, c] : node["modules"].items()) tree.children_[name] = readNode(c, data, path + name + ".");
    return tree;
}

NativeModuleTree NativeModuleTree::read(const nlohmann::json& description, const std::string& data, const std::string& source) {
    if (!littleEndianHost()) throw BundleError("VAE model from " + source + ": its native section is little-endian; this host is not");
    try {
        if (!description.is_object() || description.value("layout", "") != "native-module-tree-1" || !description.contains("module"))
            throw BundleError("its native section has an unknown layout");
        if (description.value("data_sha256", "") != BundleArchive::sha256(data))
            throw BundleError("its native data differ from what was written (checksum)");
        return readNode(description["module"], data, "");
    } catch (const BundleError& e) {
        throw BundleError("VAE model from " + source + ": " + e.what());
    } catch (const nlohmann::json::exception& e) {
        throw BundleError("VAE model from " + source + ": its native section is malformed: " + e.what());
    }
}

} // namespace VAEPlugin
