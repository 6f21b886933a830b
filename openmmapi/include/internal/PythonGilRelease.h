#ifndef OPENMM_VAE_PYTHON_GIL_RELEASE_H_
#define OPENMM_VAE_PYTHON_GIL_RELEASE_H_

namespace VAEPlugin {

/**
 * Releases Python's GIL for the lifetime of the object when the calling thread holds it, and
 * does nothing otherwise (in particular in processes without Python).
 *
 * LibTorch's autograd refuses to run while the GIL is held once Python's torch is imported, and
 * some OpenMM 7.7 wrapper calls that evaluate forces (Context.setVelocitiesToTemperature) keep
 * the GIL. The Python C API is resolved at run time (dlsym), so no library links to libpython.
 */
class PythonGilRelease {
public:
    PythonGilRelease();
    ~PythonGilRelease();
    PythonGilRelease(const PythonGilRelease&) = delete;
    PythonGilRelease& operator=(const PythonGilRelease&) = delete;
private:
    void* threadState;
};

} // namespace VAEPlugin

#endif
