// TEMPORARY until the Highway kernels land (kernels helper replaces this file).
#include "llmc/kernels.h"
namespace llmc {
void MatMul(const WeightTensor& w, const float* x, int64_t n, float* y) { MatMulReference(w, x, n, y); }
void SetNumThreads(int) {}
int NumThreads() { return 1; }
const char* KernelTarget() { return "scalar"; }
}  // namespace llmc
