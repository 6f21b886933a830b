/*
 * The few OpenMM classes the openmmvae wrapper refers to. Debian's OpenMM ships no SWIG interface
 * files, so they are declared here and %import-ed with module="openmm": SWIG then generates no
 * code for them and the Python proxies derive from (and accept) the classes of the `openmm`
 * package, sharing its SWIG runtime (version 4) type table.
 */
%module openmm

namespace OpenMM {

class Force {
public:
    virtual ~Force();
    int getForceGroup() const;
    void setForceGroup(int group);
    virtual bool usesPeriodicBoundaryConditions() const;
};

class Context {
};

class System {
};

} // namespace OpenMM
