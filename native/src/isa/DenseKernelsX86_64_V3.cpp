// The dense kernels for x86-64-v3 (compile options: native/CMakeLists.txt).
#define VAE_ISA_NAMESPACE x86_64_v3
#define VAE_ISA_TABLE denseKernelsX86_64_V3
#define VAE_ISA_VECTOR_BYTES 32
#define VAE_ISA_LABEL "x86-64-v3"
#include "DenseKernels.inc"
