// Memory that a decode step streams through once per token (a loaded model's weights), in anonymous
// mappings aligned to 2 MB and advised for transparent huge pages (madvise: the mode Debian ships).
// With 4 kB pages each page of a weight stream costs a TLB miss and the hardware prefetcher stops at
// its end: SmolLM2-135M decodes 8–13 % faster with its weights on huge pages (docs/RESULTS.md,
// section 5). Where the kernel has no huge page to give, the mapping simply keeps 4 kB pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "llmc/tensor.h"

namespace llmc {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// `bytes` of zero-filled anonymous memory starting on a 2 MB boundary; data() is null if the system
// refused the mapping. Pages become resident when first written.
class HugePageBuffer {
 public:
  explicit HugePageBuffer(size_t bytes);
  ~HugePageBuffer();
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* mapping_ = nullptr;  // data_ rounded down, with the slack that aligned it
  size_t mapped_ = 0;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Copies of tensors' bytes packed one after another into shared huge-page chunks, each copy 64-byte
// aligned and keeping its chunk alive; a copy larger than half a chunk gets a mapping of its own, so
// that no chunk is left mostly empty. The untouched end of a chunk never becomes resident.
class WeightArena {
 public:
  // A copy of b in the arena; b itself where no memory could be mapped.
  Bytes Copy(const Bytes& b);
  // t with its codes or values, scales and zero points copied into the arena.
  WeightTensor Place(WeightTensor t);
  // t (kRows, TileOrderFits) in tile order, written straight into the arena: a large tensor is never
  // held in both orders at once (InTileOrder, then Place, would add its size to the peak memory).
  WeightTensor PlaceInTileOrder(const WeightTensor& t);

 private:
  // n bytes of the arena: the view to hand out and where to write them (null where no memory could
  // be mapped, or n is 0).
  struct Space {
    Bytes bytes;
    uint8_t* data = nullptr;
  };
  Space Reserve(size_t n);

  static constexpr size_t kChunkBytes = size_t{32} << 20;
  std::shared_ptr<HugePageBuffer> chunk_;
  size_t used_ = 0;
};

}  // namespace llmc
