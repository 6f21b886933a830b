// NativeModuleTree::fromModule: the LibTorch side of the native section (OPENMMVAE_WITH_TORCH builds only).
#include "NativeModuleTree.h"
#include "VAEModelBundle.h"

namespace VAEPlugin {

namespace {

nlohmann::json plainValue(const c10::IValue& v, const std::string& name) {
    if (v.isNone()) return nullptr;
    if (v.isBool()) return v.toBool();
    if (v.isInt()) return v.toInt();
    if (v.isDouble()) return v.toDouble();
    if (v.isString()) return v.toStringRef();
    if (v.isList() || v.isTuple()) {
        nlohmann::json list = nlohmann::json::array();
        const std::vector<c10::IValue> items = v.isList() ? v.toListRef().vec() : v.toTupleRef().elements().vec();
        for (const c10::IValue& item : items) list.push_back(plainValue(item, name));
        return list;
    }
    throw BundleError("the bundle's attribute '" + name + "' has a type the native section cannot hold (" + v.tagKind() + ")");
}

} // namespace

NativeModuleTree NativeModuleTree::fromModule(const torch::jit::Module& module) {
    NativeModuleTree tree;
    const c10::ClassTypePtr type = module.type();
    for (size_t i = 0; i < type->numAttributes(); i++) {
        const std::string name = type->getAttributeName(i);
        const c10::IValue v = module._ivalue()->getSlot(i);
        if (v.isModule() || v.isObject()) {
            tree.children_[name] = fromModule(torch::jit::Module(v.toObject()));
        } else if (v.isTensor()) {
            const torch::Tensor t = v.toTensor().detach().to(torch::kCPU);
            Array a;
            a.parameter = type->is_parameter(i);
            a.shape = t.sizes().vec();
            torch::Tensor values;
            switch (t.scalar_type()) {
            case torch::kFloat64: a.dtype = "float64"; break;
            case torch::kFloat32: a.dtype = "float32"; break;
            case torch::kInt64: case torch::kInt32: case torch::kInt16: case torch::kInt8: case torch::kUInt8: a.dtype = "int64"; break;
            case torch::kBool: a.dtype = "bool"; break;
            default: throw BundleError("the bundle's tensor '" + name + "' has a dtype the native section cannot hold");
            }
            values = t.to(torch::kFloat64).contiguous();
            a.values.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
            tree.arrays_[name] = std::move(a);
        } else {
            tree.values_[name] = plainValue(v, name);
        }
    }
    return tree;
}

} // namespace VAEPlugin
