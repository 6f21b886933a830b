#ifndef OPENMM_VAE_COMPAT_LEPTON_PARSED_EXPRESSION_H_
#define OPENMM_VAE_COMPAT_LEPTON_PARSED_EXPRESSION_H_

// Stand-in for the Lepton header missing from Debian's libopenmm-dev (see CustomFunction.h):
// OpenMM's headers only name the class.

namespace Lepton {
class ParsedExpression;
}

#endif
