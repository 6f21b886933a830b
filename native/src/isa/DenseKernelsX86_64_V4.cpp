// The dense kernels for x86-64-v4 (compile options: native/CMakeLists.txt).
#define VAE_ISA_NAMESPACE x86_64_v4
#define VAE_ISA_TABLE denseKernelsX86_64_V4
#define VAE_ISA_VECTOR_BYTES 64
#define VAE_ISA_LABEL "x86-64-v4"
#include "DenseKernels.inc"
