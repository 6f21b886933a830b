/*
 * The few OpenMM classes the openmmvae wrapper refers to. Debian's OpenMM ships no SWIG interface
 * files, so they are declared here and %import-ed with module="openmm" (only where OpenMM's own
 * include/swig/OpenMMSwigHeaders.i is absent: python/CMakeLists.txt): SWIG then generates no
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

class Integrator {
public:
    virtual ~Integrator();
    virtual double getStepSize() const;
    virtual void setStepSize(double size);
    virtual double getConstraintTolerance() const;
    virtual void setConstraintTolerance(double tol);
    virtual void step(int steps) = 0;
};

class LangevinMiddleIntegrator : public Integrator {
public:
    LangevinMiddleIntegrator(double temperature, double frictionCoeff, double stepSize);
    double getTemperature() const;
    void setTemperature(double temp);
    double getFriction() const;
    void setFriction(double coeff);
    int getRandomNumberSeed() const;
    void setRandomNumberSeed(int seed);
    void step(int steps);
};

class System {
};

} // namespace OpenMM
