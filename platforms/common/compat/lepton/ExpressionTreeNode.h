#ifndef OPENMM_VAE_COMPAT_LEPTON_EXPRESSION_TREE_NODE_H_
#define OPENMM_VAE_COMPAT_LEPTON_EXPRESSION_TREE_NODE_H_

// Stand-in for the Lepton header missing from Debian's libopenmm-dev (see CustomFunction.h):
// OpenMM's headers only name the class.

namespace Lepton {
class ExpressionTreeNode;
}

#endif
