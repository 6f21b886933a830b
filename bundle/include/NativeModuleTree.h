#ifndef OPENMM_VAE_NATIVE_MODULE_TREE_H_
#define OPENMM_VAE_NATIVE_MODULE_TREE_H_

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#ifdef OPENMMVAE_WITH_TORCH
#include <torch/script.h>
#endif

namespace VAEPlugin {

/**
 * The bundle module's attributes as plain data: what the bundle's native section stores (design.md,
 * "The model bundle") and what the native evaluators are described from (VAEEncoderSpec,
 * VAEDensitySpec), so that a build without LibTorch reads the same numbers as one with it.
 *
 * A node holds the attributes of one TorchScript module: scalars and lists (JSON values), arrays
 * (tensors: dtype, shape, values, whether a parameter) and child modules. On disk (format 2): the
 * extra file BundleSchema::kNativeFile is the tree as JSON, every array as {dtype, shape, offset,
 * parameter} into the extra file BundleSchema::kNativeDataFile, which holds the arrays one after the
 * other as little-endian values of their dtype (float64, float32, int64 or bool as one byte); the JSON
 * also records the data file's SHA-256.
 */
class NativeModuleTree {
public:
    /** A tensor attribute; values converted to double (exact for the dtypes stored). */
    struct Array {
        std::string dtype;           ///< "float64", "float32", "int64" or "bool"
        std::vector<int64_t> shape;
        std::vector<double> values;  ///< row-major
        bool parameter = false;      ///< a parameter of the module (else a buffer)
    };
    bool has(const std::string& name) const;
    /** Accessors by attribute name: BundleError naming the attribute when it is missing or of another type. */
    const NativeModuleTree& child(const std::string& name) const;
    int64_t integer(const std::string& name) const;
    double real(const std::string& name) const;
    bool boolean(const std::string& name) const;
    const std::string& string(const std::string& name) const;
    /** A list of integers (an int list attribute) or the values of an integer tensor. */
    std::vector<int64_t> integers(const std::string& name) const;
    std::vector<bool> booleans(const std::string& name) const;
    const Array& array(const std::string& name) const;
    const std::map<std::string, Array>& arrays() const { return arrays_; }
    const std::map<std::string, nlohmann::json>& values() const { return values_; }
    const std::map<std::string, NativeModuleTree>& children() const { return children_; }

    /** The native section's JSON and data file of this tree. */
    void write(nlohmann::json& description, std::string& data) const;
    /** Reads a native section; BundleError naming `source` and the first inconsistency. */
    static NativeModuleTree read(const nlohmann::json& description, const std::string& data, const std::string& source);
#ifdef OPENMMVAE_WITH_TORCH
    /** The attributes of a TorchScript module and its submodules (BundleError for an attribute type it cannot hold). */
    static NativeModuleTree fromModule(const torch::jit::Module& module);
#endif
private:
    void writeNode(nlohmann::json& node, std::string& data) const;
    static NativeModuleTree readNode(const nlohmann::json& node, const std::string& data, const std::string& path);
    const nlohmann::json& value(const std::string& name) const;
    std::map<std::string, nlohmann::json> values_;
    std::map<std::string, Array> arrays_;
    std::map<std::string, NativeModuleTree> children_;
};

} // namespace VAEPlugin

#endif
