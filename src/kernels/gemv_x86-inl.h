// Row code shared by the x86 byte-dot-product kernels (gemv_x86.h): per-row scale preparation, the
// row loop, and the 32-, 16- and 8-byte chunk steps (AVX2 instructions, legal on AVX-512 CPUs too).
// Included by each gemv_x86_<isa>.cc inside an anonymous namespace after it defines LLMC_X86_TARGET
// (its target attribute), so every copy is compiled for its file's instruction set and stays local
// to that file. Includes nothing itself: the including file provides <immintrin.h>, <vector> and
// the llmc headers.

// Codes per byte, and bytes per 32-code subgroup (one scale).
template <int kBits>
inline constexpr int kCodesPerByte = 8 / kBits;
template <int kBits>
inline constexpr int64_t kSubgroupBytes = 4 * kBits;

// Scale of every 32-code subgroup of row r into sub[], and the hoisted zeros of the row:
// sum_g s_g * z_g * sum(xq over group g).
LLMC_X86_TARGET inline float PrepareRow(const WeightTensor& w, int64_t r, const int32_t* xq_group_sums, float* sub) {
  const int64_t groups = w.groups_per_row();
  const int64_t subgroups_per_group = w.quant.group_size / 32;
  const int64_t subgroups = w.cols() / 32;
  const uint16_t* scales = w.scales.as<uint16_t>() + r * groups;
  const uint8_t* zeros = w.quant.grid == QuantGrid::kAsymmetric ? w.zero_points.data() + r * groups : nullptr;
  const float fixed_zero = GridZero(w.quant.grid, w.quant.bits);
  float correction = 0.0f;
  for (int64_t g = 0; g < groups; ++g) {
    const float s = _cvtsh_ss(scales[g]);
    const float z = zeros != nullptr ? static_cast<float>(zeros[g]) : fixed_zero;
    correction += s * z * static_cast<float>(xq_group_sums[g]);
    const int64_t end = std::min(subgroups, (g + 1) * subgroups_per_group);
    for (int64_t k = g * subgroups_per_group; k < end; ++k) sub[k] = s;
  }
  return correction;
}

// Unsigned codes of a 32-byte block times the matching int8 activations (rows of `stride` bytes, one
// per code position k), as int32 lanes: lane j covers bytes 4j..4j+3. Pairs of products fit int16
// (at most 2 * 15 * 127) and so do m of them summed (m * 3810 or m * 762).
template <int kBits>
LLMC_X86_TARGET inline __m256i BlockDot32(__m256i codes, const int8_t* x, int64_t stride) {
  const __m256i mask = _mm256_set1_epi8(static_cast<char>((1 << kBits) - 1));
  __m256i sum16 = _mm256_setzero_si256();
  for (int k = 0; k < kCodesPerByte<kBits>; ++k) {
    const __m256i c = _mm256_and_si256(_mm256_srli_epi16(codes, k * kBits), mask);
    sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k * stride))));
  }
  return _mm256_madd_epi16(sum16, _mm256_set1_epi16(1));
}

// acc += the 32 code bytes at p times x, each int32 lane scaled by its subgroup's scale (s[0..]).
template <int kBits>
LLMC_X86_TARGET inline __m256 Step32(const uint8_t* p, const int8_t* x, int64_t stride, const float* s, __m256 acc) {
  const __m256i dot = BlockDot32<kBits>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), x, stride);
  const __m256i lane_subgroup = kBits == 2 ? _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3) : _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  const __m256 scale = _mm256_permutevar8x32_ps(_mm256_loadu_ps(s), lane_subgroup);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc);
}

// The same for 16 bytes (load16) or 8 bytes (2-bit only: one subgroup, upper lanes zero).
template <int kBits, bool kHalf>
LLMC_X86_TARGET inline __m128 Step16(const uint8_t* p, const int8_t* x, int64_t stride, const float* s, __m128 acc) {
  const auto load = [](const void* q) {
    return kHalf ? _mm_loadl_epi64(static_cast<const __m128i*>(q)) : _mm_loadu_si128(static_cast<const __m128i*>(q));
  };
  const __m128i codes = load(p);
  const __m128i mask = _mm_set1_epi8(static_cast<char>((1 << kBits) - 1));
  __m128i sum16 = _mm_setzero_si128();
  for (int k = 0; k < kCodesPerByte<kBits>; ++k) {
    const __m128i c = _mm_and_si128(_mm_srli_epi16(codes, k * kBits), mask);
    sum16 = _mm_add_epi16(sum16, _mm_maddubs_epi16(c, load(x + k * stride)));
  }
  const __m128i dot = _mm_madd_epi16(sum16, _mm_set1_epi16(1));
  const __m128 scale = kBits == 2 && !kHalf ? _mm_permutevar_ps(_mm_loadu_ps(s), _mm_setr_epi32(0, 0, 1, 1)) : _mm_set1_ps(s[0]);
  return _mm_fmadd_ps(_mm_cvtepi32_ps(dot), scale, acc);
}

LLMC_X86_TARGET inline float HorizontalSum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

LLMC_X86_TARGET inline float HorizontalSum(__m256 v) {
  return HorizontalSum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

// Dot product of the last `left` (< 64) bytes of a row: at most one chunk each of 32, 16 and 8 bytes.
template <int kBits>
LLMC_X86_TARGET inline float TailDot(const uint8_t* p, const int8_t* x, const float* s, int64_t left) {
  constexpr int m = kCodesPerByte<kBits>;
  __m256 acc = _mm256_setzero_ps();
  __m128 acc128 = _mm_setzero_ps();
  if (left >= 32) {
    acc = Step32<kBits>(p, x, 32, s, acc);
    p += 32, x += 32 * m, s += 32 / kSubgroupBytes<kBits>, left -= 32;
  }
  if (left >= 16) {
    acc128 = Step16<kBits, false>(p, x, 16, s, acc128);
    p += 16, x += 16 * m, s += 16 / kSubgroupBytes<kBits>, left -= 16;
  }
  if (left >= 8) acc128 = Step16<kBits, true>(p, x, 8, s, acc128);
  return HorizontalSum(acc) + HorizontalSum(acc128);
}

// Rows [r0, r1): y = x_scale * (sum over subgroups of s * dot - hoisted zeros). Kernel::RowDot<kBits>
// walks a row's whole 64-byte chunks and returns their dot plus TailDot of the rest.
template <class Kernel, int kBits>
LLMC_X86_TARGET void RowsWith(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1) {
  const WeightTensor& w = *a.w;
  const int64_t row_bytes = w.row_bytes();
  // Padded so that the widest scale load (16 floats) past the last subgroup stays inside.
  std::vector<float> sub(static_cast<size_t>(w.cols() / 32 + 16), 0.0f);
  for (int64_t r = r0; r < r1; ++r) {
    const float correction = PrepareRow(w, r, a.xq_group_sums, sub.data());
    const float dot = Kernel::template RowDot<kBits>(w.data.data() + r * row_bytes, xa, sub.data(), row_bytes);
    a.y[r] = a.xq_scale[0] * (dot - correction);
  }
}

template <class Kernel>
LLMC_X86_TARGET void GemvRowsWith(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1) {
  if (a.w->quant.bits == 2) {
    RowsWith<Kernel, 2>(a, xa, r0, r1);
  } else {
    RowsWith<Kernel, 4>(a, xa, r0, r1);
  }
}
