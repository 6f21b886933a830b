/*
 * SWIG interface of the openmmvae Python package (module openmmvae.openmmvae, re-exported by
 * openmmvae/__init__.py).
 *
 * - The proxies derive from the classes of the `openmm` package (declared in openmm_base.i, or in
 *   OpenMM's swig/OpenMMSwigHeaders.i where installed, and %import-ed with module="openmm"), so
 *   openmm.System.addForce() accepts a VAECVForce and takes ownership of it, exactly as for OpenMM's
 *   own forces.
 * - threads="1": every wrapped call releases the GIL while C++ runs (a call may evaluate the model
 *   with LibTorch, whose autograd refuses to run while Python's torch sees the GIL held).
 * - C++ exceptions become openmm.OpenMMException (the type OpenMM's own wrapper raises) carrying
 *   the message.
 * - std::vector<int>/<double> arguments accept any sequence of numbers (lists, tuples, numpy
 *   arrays); returned vectors are Python lists. Unit quantities are stripped by the Python code
 *   in openmmvae/_util.py before they get here.
 * - Units as in OpenMM's own wrapper: getters of physical parameters return openmm.unit
 *   Quantities (force constants in kJ/mol per latent unit squared, i.e. kJ/mol since latent
 *   coordinates are dimensionless; the integrator's temperature, friction and step size come from
 *   openmm.LangevinMiddleIntegrator); their setters take Quantities or plain numbers in OpenMM
 *   units. Latent coordinates and tabulated grid values stay plain floats, like the values of
 *   OpenMM's tabulated functions.
 */
%module(package="openmmvae", threads="1") openmmvae

%{
#include "LatentGrid.h"
#include "VAECVForce.h"
#include "VAEMCIntegrator.h"
#include "openmm/OpenMMException.h"
#include <cxxabi.h>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <typeinfo>
#include <vector>

/* Raise openmm.OpenMMException(message), or RuntimeError if openmm cannot be imported. */
static void vaeSetPythonException(const char* message) {
    PyObject* exceptionType = NULL;
    PyObject* module = PyImport_ImportModule("openmm");
    if (module != NULL) {
        exceptionType = PyObject_GetAttrString(module, "OpenMMException");
        Py_DECREF(module);
    }
    if (exceptionType == NULL) {
        PyErr_Clear();
        PyErr_SetString(PyExc_RuntimeError, message);
        return;
    }
    PyErr_SetString(exceptionType, message);
    Py_DECREF(exceptionType);
}

/* The demangled dynamic type name of an object. */
static std::string vaeTypeName(const std::type_info& info) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(info.name(), NULL, NULL, &status);
    std::string name = (status == 0 && demangled != NULL) ? demangled : info.name();
    std::free(demangled);
    return name;
}

/* Convert a Python sequence of numbers to a vector; on failure set a Python error and return false. */
template <class T>
static bool vaeSequenceToVector(PyObject* input, std::vector<T>& out, const char* what) {
    if (PyUnicode_Check(input) || PyBytes_Check(input) || !PySequence_Check(input)) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of numbers, got %s", what, Py_TYPE(input)->tp_name);
        return false;
    }
    PyObject* seq = PySequence_Fast(input, what);
    if (seq == NULL)
        return false;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    out.clear();
    out.reserve(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
        if (std::is_integral<T>::value) {
            long value = PyLong_AsLong(item);
            if (value == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "%s: element %zd must be an integer, got %s", what, i, Py_TYPE(item)->tp_name);
                Py_DECREF(seq);
                return false;
            }
            if (value < INT_MIN || value > INT_MAX) {
                PyErr_Format(PyExc_OverflowError, "%s: element %zd (%ld) is out of range", what, i, value);
                Py_DECREF(seq);
                return false;
            }
            out.push_back((T) value);
        }
        else {
            double value = PyFloat_AsDouble(item);
            if (value == -1.0 && PyErr_Occurred()) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "%s: element %zd must be a number, got %s", what, i, Py_TYPE(item)->tp_name);
                Py_DECREF(seq);
                return false;
            }
            out.push_back((T) value);
        }
    }
    Py_DECREF(seq);
    return true;
}

static PyObject* vaeIntVectorToList(const std::vector<int>& v) {
    PyObject* list = PyList_New(v.size());
    for (size_t i = 0; i < v.size(); i++)
        PyList_SET_ITEM(list, i, PyLong_FromLong(v[i]));
    return list;
}

static PyObject* vaeDoubleVectorToList(const std::vector<double>& v) {
    PyObject* list = PyList_New(v.size());
    for (size_t i = 0; i < v.size(); i++)
        PyList_SET_ITEM(list, i, PyFloat_FromDouble(v[i]));
    return list;
}
%}

%include "std_string.i"
%include "std_except.i"

/* OpenMM's classes: OpenMM's own SWIG declarations where its install has them (an OpenMM built with
   its Python wrapper installs them; python/CMakeLists.txt then defines VAE_OPENMM_SWIG_HEADERS),
   else the few declared in openmm_base.i (Debian's OpenMM 7.7 ships none). Its typemaps.i is not
   included: the arguments here are converted by the typemaps below, units by openmmvae/_util.py. */
#ifdef VAE_OPENMM_SWIG_HEADERS
%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%{
/* SWIG emits casts between all the classes declared there: the wrapper needs their headers. */
#include "OpenMM.h"
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
%}
#else
%import(module="openmm") "openmm_base.i"
#endif

%pythonbegin %{
from openmm import unit
%}

%exception {
    try {
        $action
    }
    catch (std::exception& e) {
        vaeSetPythonException(e.what());
        SWIG_fail;
    }
}

/* ---- std::vector<int> / std::vector<double> <-> Python sequences / lists ---- */
%typemap(in) const std::vector<int>& (std::vector<int> temp) {
    if (!vaeSequenceToVector<int>($input, temp, "$1_name"))
        SWIG_fail;
    $1 = &temp;
}
%typemap(in) const std::vector<double>& (std::vector<double> temp) {
    if (!vaeSequenceToVector<double>($input, temp, "$1_name"))
        SWIG_fail;
    $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_INT32_ARRAY) const std::vector<int>& {
    $1 = PySequence_Check($input) && !PyUnicode_Check($input) && !PyBytes_Check($input);
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_DOUBLE_ARRAY) const std::vector<double>& {
    $1 = PySequence_Check($input) && !PyUnicode_Check($input) && !PyBytes_Check($input);
}
%typemap(out) const std::vector<int>& {
    $result = vaeIntVectorToList(*$1);
}
%typemap(out) const std::vector<double>& {
    $result = vaeDoubleVectorToList(*$1);
}
%typemap(out) const std::map<std::string, std::string>& {
    $result = PyDict_New();
    for (std::map<std::string, std::string>::const_iterator it = $1->begin(); it != $1->end(); ++it) {
        PyObject* value = PyUnicode_FromStringAndSize(it->second.data(), it->second.size());
        PyDict_SetItemString($result, it->first.c_str(), value);
        Py_DECREF(value);
    }
}
%typemap(out) std::vector<double> {
    $result = vaeDoubleVectorToList($1);
}
/* std::vector<bool> (LatentGrid periodicity): any sequence, each item by its truth value. */
%typemap(in) const std::vector<bool>& (std::vector<bool> temp) {
    if (PyUnicode_Check($input) || PyBytes_Check($input) || !PySequence_Check($input)) {
        PyErr_Format(PyExc_TypeError, "$1_name must be a sequence of booleans, got %s", Py_TYPE($input)->tp_name);
        SWIG_fail;
    }
    Py_ssize_t n = PySequence_Size($input);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject* item = PySequence_GetItem($input, i);
        int truth = item == NULL ? -1 : PyObject_IsTrue(item);
        Py_XDECREF(item);
        if (truth < 0)
            SWIG_fail;
        temp.push_back(truth != 0);
    }
    $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_BOOL_ARRAY) const std::vector<bool>& {
    $1 = PySequence_Check($input) && !PyUnicode_Check($input) && !PyBytes_Check($input);
}
%typemap(out) const std::vector<bool>& {
    $result = PyList_New($1->size());
    for (size_t i = 0; i < $1->size(); i++)
        PyList_SET_ITEM($result, i, PyBool_FromLong((*$1)[i]));
}
%typemap(out) std::vector<std::string> {
    const std::vector<std::string>& names = $1;
    $result = PyList_New(names.size());
    for (size_t i = 0; i < names.size(); i++)
        PyList_SET_ITEM($result, i, PyUnicode_FromStringAndSize(names[i].data(), names[i].size()));
}

/* ---- the model: a path (str) or the archive bytes (bytes-like) ---- */
%typemap(in) const std::string& model (std::string temp) {
    if (PyBytes_Check($input)) {
        char* data;
        Py_ssize_t size;
        if (PyBytes_AsStringAndSize($input, &data, &size) < 0)
            SWIG_fail;
        temp.assign(data, size);
    }
    else if (PyUnicode_Check($input)) {
        Py_ssize_t size;
        const char* data = PyUnicode_AsUTF8AndSize($input, &size);
        if (data == NULL)
            SWIG_fail;
        temp.assign(data, size);
    }
    else {
        PyErr_Format(PyExc_TypeError, "VAECVForce: the model must be a path (str) or the bytes of a TorchScript archive, got %s",
                     Py_TYPE($input)->tp_name);
        SWIG_fail;
    }
    $1 = &temp;
}
%typemap(freearg) const std::string& model ""
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const std::string& model {
    $1 = PyBytes_Check($input) || PyUnicode_Check($input);
}
%typemap(out) const std::string& getModelBytes {
    $result = PyBytes_FromStringAndSize($1->data(), $1->size());
}

/* ---- LatentGrid ---- */
%ignore VAEPlugin::LatentGrid::evaluate;

%feature("pythonappend") VAEPlugin::LatentGrid::getWallForceConstant %{
    val = unit.Quantity(val, unit.kilojoule_per_mole)
%}

%feature("pythonprepend") VAEPlugin::LatentGrid::setWallForceConstant %{
    from openmmvae import _util
    k = _util.scalar(k, _util.KJ_PER_MOL, "wallForceConstant")
%}

%feature("pythonprepend") VAEPlugin::LatentGrid::addGaussian %{
    from openmmvae import _util
    height = _util.scalar(height, _util.KJ_PER_MOL, "height")
%}
#define OPENMM_EXPORT
%include "LatentGrid.h"

%extend VAEPlugin::LatentGrid {
    /** [value, dV/dz_0, ..., dV/dz_{L-1}] at z (see evaluate). */
    std::vector<double> _evaluateWithGradient(const std::vector<double>& z) const {
        std::vector<double> gradient;
        double value = $self->evaluate(z, gradient);
        gradient.insert(gradient.begin(), value);
        return gradient;
    }

    %pythoncode %{
    def evaluate(self, z):
        """(value, gradient): the interpolated grid value at z (kJ/mol) and dV/dz as a list."""
        result = self._evaluateWithGradient(z)
        return result[0], result[1:]

    def __reduce__(self):
        return (_latent_grid_from_state, (self.getMins(), self.getMaxs(), self.getSizes(), self.getPeriodic(),
                                          self.getValues(), self.getWallForceConstant().value_in_unit(unit.kilojoule_per_mole)))

    def __copy__(self):
        return _latent_grid_from_state(*self.__reduce__()[1])

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __repr__(self):
        return "LatentGrid(mins=%r, maxs=%r, sizes=%r, periodic=%r)" % (self.getMins(), self.getMaxs(), self.getSizes(), self.getPeriodic())
    %}
}

%pythoncode %{
def _latent_grid_from_state(mins, maxs, sizes, periodic, values, wallForceConstant):
    """A LatentGrid from its geometry, values and wall force constant (pickle and copy support)."""
    grid = LatentGrid(mins, maxs, sizes, periodic)
    grid.setValues(values)
    grid.setWallForceConstant(wallForceConstant)
    return grid
%}

/* ---- VAECVForce ---- */
%ignore VAEPlugin::VAECVForce::getBundle;
%ignore VAEPlugin::VAECVForce::createImpl;

/* Python-level argument conversion (paths, ScriptModules, unit quantities): see _util.py. */
%feature("shadow") VAEPlugin::VAECVForce::VAECVForce %{
def __init__(self, model, extra_files=None):
    r"""
    VAECVForce(model, extra_files=None)

    Create the force from a model: a path (str or os.PathLike) of a TorchScript archive, the
    bytes of one, or a torch.jit.ScriptModule (saved to bytes together with `extra_files`, a dict
    name -> str/bytes, e.g. {'metadata.json': json.dumps({...})}; a dict given as the value of
    'metadata.json' is JSON-encoded).
    """
    from openmmvae import _util
    _openmmvae.VAECVForce_swiginit(self, _openmmvae.new_VAECVForce(_util.model_argument(model, extra_files)))
%}

%feature("pythonprepend") VAEPlugin::VAECVForce::setAtoms %{
    from openmmvae import _util
    atoms = _util.int_list(atoms, "atoms")
%}

%feature("pythonprepend") VAEPlugin::VAECVForce::useHarmonicRestraint %{
    from openmmvae import _util
    centers = _util.float_list(centers, None, "centers")
    forceConstants = _util.float_list(forceConstants, _util.KJ_PER_MOL, "forceConstants")
%}

%feature("pythonprepend") VAEPlugin::VAECVForce::useComponent %{
    from openmmvae import _util
    k = _util.index(k, "component index")
%}

%feature("pythonappend") VAEPlugin::VAECVForce::getForceConstants %{
    val = unit.Quantity(val, unit.kilojoule_per_mole)
%}

/* A copy: the force's own grid is replaced by the next useGridBias. */
%feature("pythonappend") VAEPlugin::VAECVForce::getGridBias %{
    val = val.__copy__()
%}

%feature("pythonappend") VAEPlugin::VAECVForce::cast %{
    val._owner = force
%}

%include "VAECVForce.h"

%extend VAEPlugin::VAECVForce {
    /**
     * Recover the VAECVForce behind a generic openmm.Force (e.g. system.getForce(i) or a
     * deserialized force). The result refers to the same C++ object (no copy, no ownership).
     * Raises openmm.OpenMMException if the force is not a VAECVForce.
     */
    static VAEPlugin::VAECVForce& cast(OpenMM::Force& force) {
        VAEPlugin::VAECVForce* result = dynamic_cast<VAEPlugin::VAECVForce*>(&force);
        if (result == NULL)
            throw OpenMM::OpenMMException("VAECVForce.cast: the force is a " + vaeTypeName(typeid(force)) + ", not a VAEPlugin::VAECVForce");
        return *result;
    }

    /** Whether a generic openmm.Force is a VAECVForce. */
    static bool isinstance(OpenMM::Force& force) {
        return dynamic_cast<VAEPlugin::VAECVForce*>(&force) != NULL;
    }

    %pythoncode %{
    def __copy__(self):
        return self.__deepcopy__(None)

    def __deepcopy__(self, memo):
        from openmmvae import _util
        return _util.force_from_xml(_util.force_to_xml(self))

    def __reduce__(self):
        from openmmvae import _util
        return (_util.force_from_xml, (_util.force_to_xml(self),))

    def __repr__(self):
        from openmmvae import _util
        return _util.force_repr(self)
    %}
}

/* ---- VAEMCIntegrator ---- */
%feature("shadow") VAEPlugin::VAEMCIntegrator::VAEMCIntegrator %{
def __init__(self, temperature, friction, stepSize, model, stepsBetweenMoves=100, movesPerAttempt=1):
    r"""
    VAEMCIntegrator(temperature, friction, stepSize, model, stepsBetweenMoves=100, movesPerAttempt=1)

    Langevin middle dynamics plus exact VAE Monte Carlo moves (see the C++ documentation).
    temperature (K), friction (1/ps) and stepSize (ps) may be openmm.unit quantities; model is the
    path (str or os.PathLike) or the bytes of a bundle written by `openmm-vae train`.
    """
    import os
    from openmm import unit
    from openmmvae import _util
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    temperature = _util._strip(temperature, unit.kelvin, "temperature")
    friction = _util._strip(friction, unit.picosecond ** -1, "friction")
    stepSize = _util._strip(stepSize, unit.picosecond, "stepSize")
    _openmmvae.VAEMCIntegrator_swiginit(self, _openmmvae.new_VAEMCIntegrator(
        float(temperature), float(friction), float(stepSize), model, int(stepsBetweenMoves), int(movesPerAttempt)))
%}

%feature("pythonappend") VAEPlugin::VAEMCIntegrator::cast %{
    val._owner = integrator
%}

%include "VAEMCIntegrator.h"

%extend VAEPlugin::VAEMCIntegrator {
    /**
     * Recover the VAEMCIntegrator behind a generic openmm.Integrator (e.g. a deserialized one). The
     * result refers to the same C++ object. Raises openmm.OpenMMException for another integrator.
     */
    static VAEPlugin::VAEMCIntegrator& cast(OpenMM::Integrator& integrator) {
        VAEPlugin::VAEMCIntegrator* result = dynamic_cast<VAEPlugin::VAEMCIntegrator*>(&integrator);
        if (result == NULL)
            throw OpenMM::OpenMMException("VAEMCIntegrator.cast: the integrator is a " + vaeTypeName(typeid(integrator)) + ", not a VAEPlugin::VAEMCIntegrator");
        return *result;
    }

    %pythoncode %{
    def __deepcopy__(self, memo):
        import openmm
        return _vae_integrator_from_xml(openmm.XmlSerializer.serialize(self))

    def __copy__(self):
        return self.__deepcopy__(None)

    def __reduce__(self):
        import openmm
        return (_vae_integrator_from_xml, (openmm.XmlSerializer.serialize(self),))
    %}
}

%pythoncode %{
def _vae_integrator_from_xml(xml):
    """A new VAEMCIntegrator, owned by Python, from its XML (pickle support)."""
    import openmm
    generic = openmm.XmlSerializer.deserialize(xml)
    integrator = VAEMCIntegrator.cast(generic)
    generic.thisown = False
    integrator.thisown = True
    del integrator._owner
    return integrator
%}
