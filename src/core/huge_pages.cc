#include "core/huge_pages.h"

#include <sys/mman.h>

#include <cstring>

namespace llmc {
namespace {

size_t RoundUp(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

HugePageBuffer::HugePageBuffer(size_t bytes) {
  if (bytes == 0) return;
  // Mapped with one huge page of slack, so that a 2 MB boundary lies inside.
  const size_t size = RoundUp(bytes, kHugePageBytes);
  void* p = mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  mapping_ = p;
  mapped_ = size + kHugePageBytes;
  data_ = reinterpret_cast<uint8_t*>(RoundUp(reinterpret_cast<uintptr_t>(p), kHugePageBytes));
  size_ = size;
#ifdef MADV_HUGEPAGE
  // Advice only: a kernel without transparent huge pages refuses it and the memory stays usable.
  madvise(data_, size_, MADV_HUGEPAGE);
#endif
}

HugePageBuffer::~HugePageBuffer() {
  if (mapping_ != nullptr) munmap(mapping_, mapped_);
}

WeightArena::Space WeightArena::Reserve(size_t n) {
  constexpr size_t kAlign = 64;
  if (n == 0) return {};
  std::shared_ptr<HugePageBuffer> buffer;
  size_t offset = 0;
  if (n > kChunkBytes / 2) {
    buffer = std::make_shared<HugePageBuffer>(n);
  } else {
    used_ = RoundUp(used_, kAlign);
    if (chunk_ == nullptr || chunk_->data() == nullptr || used_ + n > chunk_->size()) {
      chunk_ = std::make_shared<HugePageBuffer>(kChunkBytes);
      used_ = 0;
    }
    buffer = chunk_;
    offset = used_;
    used_ += n;
  }
  if (buffer->data() == nullptr) return {};
  uint8_t* p = buffer->data() + offset;
  return {Bytes(std::move(buffer), p, n), p};
}

Bytes WeightArena::Copy(const Bytes& b) {
  Space space = Reserve(b.size());
  if (space.data == nullptr) return b;
  std::memcpy(space.data, b.data(), b.size());
  return space.bytes;
}

WeightTensor WeightArena::PlaceInTileOrder(const WeightTensor& t) {
  Space codes = Reserve(t.data.size()), scales = Reserve(t.scales.size()), zeros = Reserve(t.zero_points.size());
  if (codes.data == nullptr || scales.data == nullptr || (zeros.data == nullptr && !t.zero_points.empty())) {
    return Place(InTileOrder(t));  // no huge pages to be had: tile order on the heap, as Place keeps it
  }
  WriteTileOrder(t, codes.data, scales.data, zeros.data);
  WeightTensor tiled = t;
  tiled.order = CodeOrder::kTiles16;
  tiled.data = std::move(codes.bytes);
  tiled.scales = std::move(scales.bytes);
  tiled.zero_points = std::move(zeros.bytes);
  return tiled;
}

WeightTensor WeightArena::Place(WeightTensor t) {
  t.data = Copy(t.data);
  t.scales = Copy(t.scales);
  t.zero_points = Copy(t.zero_points);
  return t;
}

}  // namespace llmc
