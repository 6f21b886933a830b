#ifndef OPENMM_VAE_COMPAT_LEPTON_CUSTOM_FUNCTION_H_
#define OPENMM_VAE_COMPAT_LEPTON_CUSTOM_FUNCTION_H_

// Debian's libopenmm-dev ships openmm/common/ExpressionUtilities.h (included by OpenCLContext.h)
// but not the Lepton headers it includes. This declaration matches Lepton's abstract class; the
// plugin never parses expressions, so nothing else of Lepton is needed. Used only when the real
// header is absent (see platforms/common/CMakeLists.txt).

namespace Lepton {

class CustomFunction {
public:
    virtual ~CustomFunction() {
    }
    virtual int getNumArguments() const = 0;
    virtual double evaluate(const double* arguments) const = 0;
    virtual double evaluateDerivative(const double* arguments, const int* derivOrder) const = 0;
    virtual CustomFunction* clone() const = 0;
};

} // namespace Lepton

#endif
