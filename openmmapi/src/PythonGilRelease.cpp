#include "internal/PythonGilRelease.h"
#include <dlfcn.h>

using namespace VAEPlugin;

namespace {

struct PythonApi {
    int (*isInitialized)() = nullptr;
    int (*gilStateCheck)() = nullptr;
    void* (*saveThread)() = nullptr;
    void (*restoreThread)(void*) = nullptr;
    PythonApi() {
        isInitialized = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "Py_IsInitialized"));
        gilStateCheck = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "PyGILState_Check"));
        saveThread = reinterpret_cast<void* (*)()>(dlsym(RTLD_DEFAULT, "PyEval_SaveThread"));
        restoreThread = reinterpret_cast<void (*)(void*)>(dlsym(RTLD_DEFAULT, "PyEval_RestoreThread"));
    }
    bool available() const {
        return isInitialized && gilStateCheck && saveThread && restoreThread;
    }
};

const PythonApi& pythonApi() {
    static const PythonApi api;
    return api;
}

} // namespace

PythonGilRelease::PythonGilRelease() : threadState(nullptr) {
    const PythonApi& api = pythonApi();
    if (api.available() && api.isInitialized() && api.gilStateCheck())
        threadState = api.saveThread();
}

PythonGilRelease::~PythonGilRelease() {
    if (threadState)
        pythonApi().restoreThread(threadState);
}
