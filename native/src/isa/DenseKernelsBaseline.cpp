// The dense kernels for baseline (compile options: native/CMakeLists.txt).
#define VAE_ISA_NAMESPACE baseline
#define VAE_ISA_TABLE denseKernelsBaseline
#define VAE_ISA_VECTOR_BYTES 16
#define VAE_ISA_LABEL "baseline"
#include "DenseKernels.inc"
