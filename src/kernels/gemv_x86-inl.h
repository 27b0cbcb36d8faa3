// Row code shared by the x86 byte-dot-product kernels (gemv_x86.h): per-row scale preparation, the
// row loop, and the AVX2 32-, 16- and 8-byte steps (the AVX2 kernel's whole walk; the AVX-512
// kernel has its own multi-row loop).
// Included by each gemv_x86_<isa>.cc inside an anonymous namespace after it defines LLMC_X86_TARGET
// (its target attribute), so every copy is compiled for its file's instruction set and stays local
// to that file. Includes nothing itself: the including file provides <immintrin.h>, <vector> and
// the llmc headers.

// Codes per byte, and bytes per 32-code subgroup.
template <int kBits>
inline constexpr int kCodesPerByte = 8 / kBits;
template <int kBits>
inline constexpr int64_t kSubgroupBytes = 4 * kBits;

// Int32 lane j of a step covers code bytes 4j..4j+3, so it lies in the step's subgroup 4j / subgroup
// bytes. (The 256- and 128-bit steps use the first 8 and 4 lanes.)
template <int kBits>
inline constexpr int32_t kLaneSubgroup[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};
template <>
inline constexpr int32_t kLaneSubgroup<4>[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
template <>
inline constexpr int32_t kLaneSubgroup<8>[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};

// What every row of the tensor shares. Groups are 2^log2 subgroups (IsaFor guarantees it), or one
// group spans the whole row (log2 = 31: every lane maps to group 0).
struct RowLayout {
  explicit RowLayout(const WeightTensor& w)
      : rows(w.rows()),
        groups(w.groups_per_row()),
        row_bytes(w.row_bytes()),
        codes(w.data.data()),
        scales(w.scales.as<uint16_t>()),
        zeros(w.quant.grid == QuantGrid::kAsymmetric ? w.zero_points.data() : nullptr),
        fixed_zero(GridZero(w.quant.grid, w.quant.bits)) {
    const int64_t subgroups_per_group = w.quant.group_size / 32;
    while ((int64_t{1} << log2_subgroups_per_group) < subgroups_per_group) ++log2_subgroups_per_group;
    if (groups == 1) log2_subgroups_per_group = 31;
  }

  int64_t rows, groups, row_bytes;
  const uint8_t* codes;
  const uint16_t* scales;
  const uint8_t* zeros;  // asymmetric grid only
  float fixed_zero;
  int log2_subgroups_per_group = 0;
};

// Where a step's scales come from: lane j uses scales[group0 + lane_group[j]].
struct StepScales {
  const float* scales;
  __m256i lane_group;
};

// The scales of the step starting at subgroup k0 (group_scales padded by 16 floats).
LLMC_X86_TARGET inline StepScales ScalesAt(const float* group_scales, int64_t k0, int log2, const __m256i lane_subgroup) {
  const int64_t group0 = k0 >> log2;
  const __m256i first = _mm256_set1_epi32(static_cast<int32_t>(k0 - (group0 << log2)));
  return {group_scales + group0, _mm256_srli_epi32(_mm256_add_epi32(first, lane_subgroup), log2)};
}

LLMC_X86_TARGET inline float HorizontalSum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

LLMC_X86_TARGET inline float HorizontalSum(__m256 v) {
  return HorizontalSum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

// Rows whose scales and zeros are followed by fewer than 8 more entries in the tensor (the last rows)
// are copied into these zero-padded buffers first, so PrepareRow's whole-vector loads stay inside.
struct RowParams {
  explicit RowParams(int64_t groups)
      : half(static_cast<size_t>(groups + 8), 0), zeros(static_cast<size_t>(groups + 8), 0) {}
  std::vector<uint16_t> half;
  std::vector<uint8_t> zeros;
};

// Row r's group scales as floats into group_scales[] (whole vectors of 8, the lanes past the row
// zero), and the hoisted zeros of the row returned: sum_g s_g * (z_g - bias) * xsum_g, xsum_g being
// the quantized activations summed over group g. `bias` is what the kernel subtracted from every
// code before its dot product (128 for AVX2's signed 8-bit trick, else 0).
LLMC_X86_TARGET inline float PrepareRow(const RowLayout& l, int64_t r, const float* xq_group_sums, float bias,
                                        RowParams& buf, float* group_scales) {
  const int64_t first = r * l.groups;
  const uint16_t* half = l.scales + first;
  const uint8_t* zeros = l.zeros != nullptr ? l.zeros + first : nullptr;
  if (first + (l.groups + 7) / 8 * 8 > l.rows * l.groups) {
    std::memcpy(buf.half.data(), half, static_cast<size_t>(l.groups) * sizeof(uint16_t));
    half = buf.half.data();
    if (zeros != nullptr) zeros = static_cast<const uint8_t*>(std::memcpy(buf.zeros.data(), zeros, static_cast<size_t>(l.groups)));
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256 correction = _mm256_setzero_ps();
  for (int64_t g = 0; g < l.groups; g += 8) {
    const __m256 in_row = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(l.groups - g)), lane));
    const __m256 s = _mm256_and_ps(in_row, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(half + g))));
    _mm256_storeu_ps(group_scales + g, s);
    const __m256 z = zeros != nullptr ? _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
                                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(zeros + g))))
                                      : _mm256_set1_ps(l.fixed_zero);
    const __m256 z_biased = _mm256_sub_ps(z, _mm256_set1_ps(bias));
    correction = _mm256_fmadd_ps(_mm256_mul_ps(s, z_biased), _mm256_loadu_ps(xq_group_sums + g), correction);
  }
  return HorizontalSum(correction);
}

// Unsigned codes of a 32-byte block times the matching int8 activations (rows of `stride` bytes, one
// per code position k), as int32 lanes. Pairs of products fit int16 (at most 2 * 15 * 127) and so do
// m of them summed (m * 3810 or m * 762). 8-bit codes would overflow vpmaddubsw's int16 pairs
// (2 * 255 * 127), so they go in as signed c - 128 through llama.cpp's |w| * sign(x, w) trick (at most
// 2 * 128 * 127) and the caller adds the 128 back with the zeros (Avx2::CodeBias).
template <int kBits>
LLMC_X86_TARGET inline __m256i BlockDot32(__m256i codes, const int8_t* x, int64_t stride) {
  if constexpr (kBits == 8) {
    const __m256i w = _mm256_xor_si256(codes, _mm256_set1_epi8(static_cast<char>(0x80)));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w)), _mm256_set1_epi16(1));
  } else {
    const __m256i mask = _mm256_set1_epi8(static_cast<char>((1 << kBits) - 1));
    __m256i sum16 = _mm256_setzero_si256();
    for (int k = 0; k < kCodesPerByte<kBits>; ++k) {
      const __m256i c = _mm256_and_si256(_mm256_srli_epi16(codes, k * kBits), mask);
      sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k * stride))));
    }
    return _mm256_madd_epi16(sum16, _mm256_set1_epi16(1));
  }
}

// acc += the 32 code bytes at p times x, each int32 lane scaled by its group's weight scale times its
// activation block's scale (xs: the step's lane scales, Activations::lane_scales).
template <int kBits>
LLMC_X86_TARGET inline __m256 Step32(const uint8_t* p, const int8_t* x, int64_t stride, const float* xs, StepScales s,
                                     __m256 acc) {
  const __m256i dot = BlockDot32<kBits>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), x, stride);
  const __m256 scale = _mm256_mul_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(s.scales), s.lane_group), _mm256_loadu_ps(xs));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc);
}

// The same for 16 bytes, or 8 bytes (kHalf, 2-bit only: one subgroup, upper lanes zero); 2/4 bits.
template <int kBits, bool kHalf>
LLMC_X86_TARGET inline __m128 Step16(const uint8_t* p, const int8_t* x, int64_t stride, const float* xs, StepScales s,
                                     __m128 acc) {
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
  const __m128 scale = _mm_mul_ps(_mm_permutevar_ps(_mm_loadu_ps(s.scales), _mm256_castsi256_si128(s.lane_group)), _mm_loadu_ps(xs));
  return _mm_fmadd_ps(_mm_cvtepi32_ps(dot), scale, acc);
}

// The dot product of a row with AVX2: 32-byte steps, then at most one 16- and one 8-byte step (rows
// are whole subgroups; 8-bit rows are whole 32-byte steps). Activations are in 64-byte chunks: a step
// at byte b of the row reads x + (b / 64) * 64m + b % 64 with stride 64, and lane scales xs + b / 4.
template <int kBits>
LLMC_X86_TARGET inline float RowDotAvx2(const uint8_t* p, const int8_t* x, const float* xs, const float* group_scales,
                                        const RowLayout& l) {
  constexpr int m = kCodesPerByte<kBits>;
  constexpr int64_t kStepSubgroups = 32 / kSubgroupBytes<kBits>;
  const __m256i lane_subgroup = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneSubgroup<kBits>));
  const int log2 = l.log2_subgroups_per_group;
  const auto xat = [x](int64_t b) { return x + (b / 64) * 64 * m + b % 64; };
  __m256 acc = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 32 <= l.row_bytes; b += 32) {
    acc = Step32<kBits>(p + b, xat(b), 64, xs + b / 4, ScalesAt(group_scales, b / 32 * kStepSubgroups, log2, lane_subgroup), acc);
  }
  __m128 acc128 = _mm_setzero_ps();
  if constexpr (kBits != 8) {
    if (b + 16 <= l.row_bytes) {
      acc128 = Step16<kBits, false>(p + b, xat(b), 64, xs + b / 4,
                                    ScalesAt(group_scales, b / kSubgroupBytes<kBits>, log2, lane_subgroup), acc128);
      b += 16;
    }
    if (b < l.row_bytes) {
      acc128 = Step16<kBits, true>(p + b, xat(b), 64, xs + b / 4,
                                   ScalesAt(group_scales, b / kSubgroupBytes<kBits>, log2, lane_subgroup), acc128);
    }
  }
  return HorizontalSum(_mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)), acc128));
}

// Rows [r, r + n) of codes into L1 ahead of use (those past the last row are skipped): a decode call
// streams only a few kB per thread, too short for the hardware prefetchers to ramp up, and they stop
// at every 4 kB page. Measured on SmolLM2 int2 decode, 2 threads: about +25 % tokens/s.
LLMC_X86_TARGET inline void PrefetchRows(const RowLayout& l, int64_t r, int64_t n) {
  const int64_t bytes = (std::min(l.rows, r + n) - r) * l.row_bytes;
  const uint8_t* p = l.codes + r * l.row_bytes;
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(reinterpret_cast<const char*>(p + b), _MM_HINT_T0);
}

// Rows [r0, r1): y = sum over lanes of (weight scale * activation scale * integer dot) - hoisted
// zeros, the dot from Kernel::RowDot<kBits>.
template <class Kernel, int kBits>
LLMC_X86_TARGET void RowsWith(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  const RowLayout l(*a.w);
  // Padded so that the widest scale load (16 floats) from any group stays inside.
  std::vector<float> group_scales(static_cast<size_t>(l.groups + 16), 0.0f);
  std::vector<float> xq_group_sums(static_cast<size_t>(l.groups + 8), 0.0f);
  for (int64_t g = 0; g < l.groups; ++g) xq_group_sums[g] = a.xq_group_sums[g];
  RowParams params(l.groups);
  const float bias = static_cast<float>(Kernel::CodeBias(kBits));
  for (int64_t r = r0; r < r1; ++r) {
    PrefetchRows(l, r + 4, 1);
    const float correction = PrepareRow(l, r, xq_group_sums.data(), bias, params, group_scales.data());
    const float dot = Kernel::template RowDot<kBits>(l.codes + r * l.row_bytes, xa.bytes.data(), xa.lane_scales.data(),
                                                     group_scales.data(), l);
    a.y[r] = dot - correction;
  }
}

template <class Kernel>
LLMC_X86_TARGET void GemvRowsWith(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  switch (a.w->quant.bits) {
    case 2: return RowsWith<Kernel, 2>(a, xa, r0, r1);
    case 4: return RowsWith<Kernel, 4>(a, xa, r0, r1);
    default: return RowsWith<Kernel, 8>(a, xa, r0, r1);  // IsaFor admits 2, 4 and 8 bits only
  }
}
