// The form a weight is held in for MatMul: the stored encoding, except
// - 3-bit codes, which are widened to 4 bits where the CPU has the 4-bit byte-dot GEMV (gemv_x86.h).
//   No byte-dot kernel reads 3-bit codes, so they decode on the portable int8 path, several times
//   slower per weight; 4-bit codes with the same values run at the 4-bit kernel's speed for a third
//   more memory on those tensors;
// - 2-, 4- and 8-bit codes (widened ones too), which go into tile order (CodeOrder::kTiles16) where
//   the AVX-512 VNNI GEMV reads them: 16 rows per vector, without the per-row work of row order
//   (scale windows, tails, reductions); 2-bit products about twice as fast on SmolLM2's layer shapes,
//   8-bit ones 1.8-2.3x in cache and 1.06-1.08x from memory (the int8 LM head). Same bytes, same
//   values. Only with int8 activations (the mode when the model loads): the float-activation GEMV
//   reads rows as stored, and through row-order copies it would run about a third slower.
#include <utility>
#include <vector>

#include "kernels/gemv_x86.h"
#include "llmc/kernels.h"
#include "quant/packing.h"

namespace llmc {
namespace {

// Code and zero offset that keeps every value of a 3-bit grid on the 4-bit one: the fixed zeros are
// 2^(b-1) (signed) and (2^b - 1) / 2 (symmetric half), both 4 more at 4 bits, and a stored zero
// point moves with its codes, so s * (c + 4 - (z + 4)) = s * (c - z) exactly.
constexpr uint8_t kWidenOffset = 4;

// W's codes (3 bits) and zero points into `wide`, whose metadata is already W's at 4 bits.
void WidenCodes(const WeightTensor& w, WeightTensor& wide) {
  const int64_t rows = w.rows(), cols = w.cols();
  const int64_t row_bytes = PackedRowBytes(cols, 4);
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  std::vector<uint8_t> packed(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r) {
    UnpackRow(w.data.data() + r * w.row_bytes(), cols, 3, codes.data());
    for (uint8_t& c : codes) c += kWidenOffset;
    PackRow(codes.data(), cols, 4, packed.data() + r * row_bytes);
  }
  wide.data = Bytes::Own(std::move(packed));
  wide.scales = w.scales;
  if (w.quant.grid == QuantGrid::kAsymmetric) {
    std::vector<uint8_t> zeros(w.zero_points.data(), w.zero_points.data() + w.zero_points.size());
    for (uint8_t& z : zeros) z += kWidenOffset;
    wide.zero_points = Bytes::Own(std::move(zeros));
  }
}

// 3-bit codes as 4-bit ones with the same values where the 4-bit byte-dot GEMV applies; w otherwise.
WeightTensor Widened(WeightTensor w) {
  if (w.quant.bits != 3) return w;
  WeightTensor wide;  // the metadata first: IsaFor reads only the shape and the quantization
  wide.name = w.name;
  wide.shape = w.shape;
  wide.encoding = Encoding::kQuantized;
  wide.quant = {4, w.quant.group_size, w.quant.grid};
  if (kernels::x86::IsaFor(wide) == kernels::x86::Isa::kNone) return w;
  WidenCodes(w, wide);
  return wide;
}

}  // namespace

WeightTensor WidenForMatMul(WeightTensor w) {
  if (!w.quantized() || w.order != CodeOrder::kRows) return w;
  return Widened(std::move(w));
}

bool TileOrderPays(const WeightTensor& w) {
  return w.order == CodeOrder::kRows && TileOrderFits(w) && ActivationInt8() &&
         kernels::x86::IsaFor(w) == kernels::x86::Isa::kAvx512Vnni;
}

WeightTensor PrepareForMatMul(WeightTensor w) {
  WeightTensor wide = WidenForMatMul(std::move(w));
  return TileOrderPays(wide) ? InTileOrder(wide) : wide;
}

}  // namespace llmc
