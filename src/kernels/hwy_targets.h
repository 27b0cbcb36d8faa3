// The instruction sets the SIMD kernels are compiled for: AVX2, AVX-512 (AVX3) and the portable
// EMU128 fallback (SSSE3/SSE4 are skipped: every x86 CPU with them but without AVX2 is rare, and each
// extra target costs compile time). Include before any Highway header in a *_hwy.cc file.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SSE4)
#endif
