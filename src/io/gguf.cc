#include "io/gguf.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

#include "io/checked_math.h"

namespace llmc {
namespace {

using Json = nlohmann::json;

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr int kMaxDims = 4;             // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;     // deeper nesting only serves to exhaust the stack
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;            // empty key, type, smallest value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims, type, offset

// Sequential little-endian reads over the mapped header, each checked against the end of the file.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, size_t size) : path_(path), data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status Need(uint64_t n, const std::string& what) const {
    if (n > remaining()) {
      return Status::Corrupt("{}: truncated: {} needs {} bytes at offset {}, only {} left", path_, what, n, pos_,
                             remaining());
    }
    return Status::OK();
  }

  template <typename T>
  Result<T> Read(const std::string& what) {
    LLMC_RETURN_IF_ERROR(Need(sizeof(T), what));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  Result<std::string> ReadString(const std::string& what) {
    LLMC_ASSIGN_OR_RETURN(uint64_t len, Read<uint64_t>(what + " length"));
    LLMC_RETURN_IF_ERROR(Need(len, what));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

  const std::string& path() const { return path_; }

 private:
  const std::string& path_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Smallest encoding of one value of a type: bounds how many array elements the rest of the file can hold.
Result<uint64_t> MinValueBytes(uint32_t type, const std::string& path, const std::string& key) {
  switch (static_cast<GgufValueType>(type)) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: return uint64_t{1};
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: return uint64_t{2};
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32: return uint64_t{4};
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString: return uint64_t{8};
    case GgufValueType::kArray: return uint64_t{12};
  }
  return Status::Corrupt("{}: key '{}' has unknown value type {}", path, key, type);
}

// Converters write decimal settings (rms eps 1e-5) as f32; the shortest decimal that round-trips the
// f32 recovers the value the model was configured with, rather than its nearest float.
double FloatToDecimalDouble(float v) { return std::strtod(fmt::format("{}", v).c_str(), nullptr); }

Result<Json> ReadValue(Cursor& c, uint32_t type, const std::string& key, int depth);

Result<Json> ReadArray(Cursor& c, const std::string& key, int depth) {
  if (depth >= kMaxArrayNesting) {
    return Status::Corrupt("{}: key '{}' nests arrays deeper than {}", c.path(), key, kMaxArrayNesting);
  }
  LLMC_ASSIGN_OR_RETURN(uint32_t elem_type, c.Read<uint32_t>("array type of key '" + key + "'"));
  LLMC_ASSIGN_OR_RETURN(uint64_t count, c.Read<uint64_t>("array length of key '" + key + "'"));
  LLMC_ASSIGN_OR_RETURN(uint64_t min_bytes, MinValueBytes(elem_type, c.path(), key));
  const auto needed = CheckedMul(count, min_bytes);
  if (!needed || *needed > c.remaining()) {
    return Status::Corrupt("{}: key '{}' claims {} array elements, more than the {} bytes left can hold", c.path(),
                           key, count, c.remaining());
  }
  Json arr = Json::array();
  arr.get_ref<Json::array_t&>().reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    LLMC_ASSIGN_OR_RETURN(Json v, ReadValue(c, elem_type, key, depth + 1));
    arr.push_back(std::move(v));
  }
  return arr;
}

Result<Json> ReadValue(Cursor& c, uint32_t type, const std::string& key, int depth) {
  const std::string what = "value of key '" + key + "'";
  switch (static_cast<GgufValueType>(type)) {
    case GgufValueType::kUint8: {
      LLMC_ASSIGN_OR_RETURN(uint8_t v, c.Read<uint8_t>(what));
      return Json(v);
    }
    case GgufValueType::kInt8: {
      LLMC_ASSIGN_OR_RETURN(int8_t v, c.Read<int8_t>(what));
      return Json(v);
    }
    case GgufValueType::kUint16: {
      LLMC_ASSIGN_OR_RETURN(uint16_t v, c.Read<uint16_t>(what));
      return Json(v);
    }
    case GgufValueType::kInt16: {
      LLMC_ASSIGN_OR_RETURN(int16_t v, c.Read<int16_t>(what));
      return Json(v);
    }
    case GgufValueType::kUint32: {
      LLMC_ASSIGN_OR_RETURN(uint32_t v, c.Read<uint32_t>(what));
      return Json(v);
    }
    case GgufValueType::kInt32: {
      LLMC_ASSIGN_OR_RETURN(int32_t v, c.Read<int32_t>(what));
      return Json(v);
    }
    case GgufValueType::kUint64: {
      LLMC_ASSIGN_OR_RETURN(uint64_t v, c.Read<uint64_t>(what));
      return Json(v);
    }
    case GgufValueType::kInt64: {
      LLMC_ASSIGN_OR_RETURN(int64_t v, c.Read<int64_t>(what));
      return Json(v);
    }
    case GgufValueType::kFloat32: {
      LLMC_ASSIGN_OR_RETURN(float v, c.Read<float>(what));
      return Json(FloatToDecimalDouble(v));
    }
    case GgufValueType::kFloat64: {
      LLMC_ASSIGN_OR_RETURN(double v, c.Read<double>(what));
      return Json(v);
    }
    case GgufValueType::kBool: {
      LLMC_ASSIGN_OR_RETURN(uint8_t v, c.Read<uint8_t>(what));
      return Json(v != 0);
    }
    case GgufValueType::kString: {
      LLMC_ASSIGN_OR_RETURN(std::string v, c.ReadString(what));
      return Json(std::move(v));
    }
    case GgufValueType::kArray: return ReadArray(c, key, depth);
  }
  return Status::Corrupt("{}: key '{}' has unknown value type {}", c.path(), key, type);
}

Status CheckVersion(const std::string& path, uint32_t version) {
  if (version == 2 || version == 3) return Status::OK();
  if (version == 1) return Status::Unsupported("{}: GGUF version 1 (supported: 2 and 3)", path);
  if (__builtin_bswap32(version) == 2 || __builtin_bswap32(version) == 3) {
    return Status::Unsupported("{}: big-endian GGUF (only little-endian files are supported)", path);
  }
  return Status::Unsupported("{}: GGUF version {} (supported: 2 and 3)", path, version);
}

Result<uint64_t> CheckedCount(Cursor& c, const char* what, uint64_t min_entry_bytes) {
  LLMC_ASSIGN_OR_RETURN(uint64_t n, c.Read<uint64_t>(what));
  const auto needed = CheckedMul(n, min_entry_bytes);
  if (!needed || *needed > c.remaining()) {
    return Status::Corrupt("{}: {} is {}, more than the {} bytes left can hold", c.path(), what, n, c.remaining());
  }
  return n;
}

Result<uint64_t> AlignmentFrom(const std::string& path, const Json& metadata) {
  if (!metadata.contains("general.alignment")) return uint64_t{32};
  const auto& v = metadata["general.alignment"];
  if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 || (v.get<uint64_t>() & (v.get<uint64_t>() - 1)) != 0) {
    return Status::Corrupt("{}: general.alignment is {}, expected a power of two", path, v.dump());
  }
  return v.get<uint64_t>();
}

Result<GgufTensorInfo> ReadTensorInfo(Cursor& c) {
  GgufTensorInfo t;
  LLMC_ASSIGN_OR_RETURN(t.name, c.ReadString("tensor name"));
  LLMC_ASSIGN_OR_RETURN(uint32_t n_dims, c.Read<uint32_t>("dimension count of tensor '" + t.name + "'"));
  if (n_dims == 0 || n_dims > kMaxDims) {
    return Status::Corrupt("{}: tensor '{}' has {} dimensions (expected 1 to {})", c.path(), t.name, n_dims,
                           kMaxDims);
  }
  for (uint32_t i = 0; i < n_dims; ++i) {
    LLMC_ASSIGN_OR_RETURN(uint64_t d, c.Read<uint64_t>("dimension of tensor '" + t.name + "'"));
    if (d > static_cast<uint64_t>(INT64_MAX)) {
      return Status::Corrupt("{}: tensor '{}' has dimension {}", c.path(), t.name, d);
    }
    t.ne.push_back(static_cast<int64_t>(d));
  }
  t.shape.assign(t.ne.rbegin(), t.ne.rend());
  LLMC_ASSIGN_OR_RETURN(uint32_t type_id, c.Read<uint32_t>("type of tensor '" + t.name + "'"));
  auto type = GgmlTypeTraitsFor(type_id);
  if (!type.ok()) return type.status().WithContext(c.path() + ": tensor '" + t.name + "'");
  t.type = *type;
  LLMC_ASSIGN_OR_RETURN(t.offset, c.Read<uint64_t>("data offset of tensor '" + t.name + "'"));
  return t;
}

// Byte size from the shape and block layout; the row length must be whole blocks.
Status ComputeTensorBytes(const std::string& path, GgufTensorInfo& t) {
  if (t.ne[0] % t.type->block_elems != 0) {
    return Status::Corrupt("{}: tensor '{}' of type {} has rows of {} values, not a multiple of the block size {}",
                           path, t.name, t.type->name, t.ne[0], t.type->block_elems);
  }
  auto numel = CheckedNumel(t.ne);
  auto bytes = numel ? CheckedMul(static_cast<uint64_t>(*numel / t.type->block_elems), t.type->block_bytes)
                     : std::nullopt;
  if (!bytes) return Status::Corrupt("{}: tensor '{}' shape {} overflows", path, t.name, ShapeToString(t.shape));
  t.bytes = *bytes;
  return Status::OK();
}

Status CheckTensorPlacement(const std::string& path, const GgufTensorInfo& t, uint64_t alignment,
                            uint64_t data_size) {
  if (t.offset % alignment != 0) {
    return Status::Corrupt("{}: tensor '{}' data offset {} is not a multiple of the alignment {}", path, t.name,
                           t.offset, alignment);
  }
  if (t.offset > data_size || t.bytes > data_size - t.offset) {
    return Status::Corrupt("{}: tensor '{}' data [{}, {}) runs past the end of the data section ({} bytes)", path,
                           t.name, t.offset, t.offset + t.bytes, data_size);
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  auto g = std::shared_ptr<GgufFile>(new GgufFile());
  LLMC_ASSIGN_OR_RETURN(g->file_, MappedFile::Open(path));
  Cursor c(path, g->file_->data(), g->file_->size());
  if (g->file_->size() < sizeof(kMagic) || std::memcmp(g->file_->data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corrupt("{}: bad magic (expected a GGUF file)", path);
  }
  LLMC_RETURN_IF_ERROR(c.Read<uint32_t>("magic").status());
  LLMC_ASSIGN_OR_RETURN(g->version_, c.Read<uint32_t>("version"));
  LLMC_RETURN_IF_ERROR(CheckVersion(path, g->version_));
  LLMC_ASSIGN_OR_RETURN(uint64_t n_tensors, CheckedCount(c, "tensor count", kMinTensorInfoBytes));
  LLMC_ASSIGN_OR_RETURN(uint64_t n_kv, CheckedCount(c, "key/value count", kMinKvBytes));

  for (uint64_t i = 0; i < n_kv; ++i) {
    LLMC_ASSIGN_OR_RETURN(std::string key, c.ReadString("metadata key"));
    LLMC_ASSIGN_OR_RETURN(uint32_t type, c.Read<uint32_t>("value type of key '" + key + "'"));
    LLMC_ASSIGN_OR_RETURN(Json value, ReadValue(c, type, key, 0));
    if (g->metadata_.contains(key)) return Status::Corrupt("{}: duplicate metadata key '{}'", path, key);
    g->metadata_[key] = std::move(value);
  }
  LLMC_ASSIGN_OR_RETURN(g->alignment_, AlignmentFrom(path, g->metadata_));

  std::set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    LLMC_ASSIGN_OR_RETURN(GgufTensorInfo t, ReadTensorInfo(c));
    if (!names.insert(t.name).second) return Status::Corrupt("{}: duplicate tensor '{}'", path, t.name);
    LLMC_RETURN_IF_ERROR(ComputeTensorBytes(path, t));
    g->tensors_.push_back(std::move(t));
  }

  const uint64_t header_end = c.pos();
  g->data_offset_ = (header_end + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  if (g->data_offset_ > g->file_->size() && !g->tensors_.empty()) {
    return Status::Corrupt("{}: truncated: data section would start at {}, past the end of the file ({} bytes)",
                           path, g->data_offset_, g->file_->size());
  }
  const uint64_t data_size = g->file_->size() > g->data_offset_ ? g->file_->size() - g->data_offset_ : 0;
  for (const auto& t : g->tensors_) LLMC_RETURN_IF_ERROR(CheckTensorPlacement(path, t, g->alignment_, data_size));
  return g;
}

Bytes GgufFile::TensorData(const GgufTensorInfo& t) const {
  return Bytes(file_, file_->data() + data_offset_ + t.offset, t.bytes);
}

bool HasGgufMagic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof(kMagic)] = {};
  in.read(magic, sizeof(magic));
  return in.gcount() == sizeof(magic) && std::memcmp(magic, kMagic, sizeof(kMagic)) == 0;
}

}  // namespace llmc
