// SentencePiece tokenizer.model (a serialized sentencepiece.ModelProto) -> TokenizerSpec.
// The protobuf wire format is decoded by hand: only a handful of fields matter and pulling in
// libprotobuf for them would cost more than this file.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "io/tokenizer_internal.h"
#include "llmc/file.h"

namespace llmc::tokenizer_internal {
namespace {

// Field numbers in sentencepiece_model.proto.
constexpr uint32_t kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr uint32_t kPieceText = 1, kPieceScore = 2, kPieceType = 3;
constexpr uint32_t kTrainerModelType = 3, kTrainerByteFallback = 35, kTrainerUnkId = 40, kTrainerBosId = 41,
                   kTrainerEosId = 42, kTrainerPadId = 43;
constexpr uint32_t kNormalizerName = 1, kNormalizerAddDummyPrefix = 3, kNormalizerRemoveExtraWhitespaces = 4;
constexpr uint64_t kModelTypeBpe = 2;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One decoded field: varint/fixed values in `number`, length-delimited payloads in `bytes`.
struct Field {
  uint32_t tag = 0;
  WireType wire = kVarint;
  uint64_t number = 0;
  std::string_view bytes;
};

// Reads the fields of one message in order; `what` names the message for errors.
class WireReader {
 public:
  WireReader(std::string_view data, std::string path, std::string what)
      : data_(data), path_(std::move(path)), what_(std::move(what)) {}

  bool done() const { return pos_ >= data_.size(); }

  Result<Field> Next() {
    Field f;
    LLMC_ASSIGN_OR_RETURN(uint64_t key, Varint());
    f.tag = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<WireType>(key & 7);
    switch (f.wire) {
      case kVarint: {
        LLMC_ASSIGN_OR_RETURN(f.number, Varint());
        return f;
      }
      case kFixed64:
      case kFixed32: {
        const size_t width = f.wire == kFixed64 ? 8 : 4;
        if (data_.size() - pos_ < width) return Truncated();
        std::memcpy(&f.number, data_.data() + pos_, width);  // little-endian host, as everywhere we build
        pos_ += width;
        return f;
      }
      case kLengthDelimited: {
        LLMC_ASSIGN_OR_RETURN(uint64_t len, Varint());
        if (len > data_.size() - pos_) return Truncated();
        f.bytes = data_.substr(pos_, len);
        pos_ += len;
        return f;
      }
    }
    return Status::Corrupt("{}: {} has field {} with unsupported wire type {}", path_, what_, f.tag,
                           static_cast<uint32_t>(f.wire));
  }

 private:
  Result<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Truncated();
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Status::Corrupt("{}: {} has a varint longer than 10 bytes at offset {}", path_, what_, pos_);
  }
  Status Truncated() const { return Status::Corrupt("{}: {} is truncated at offset {}", path_, what_, pos_); }

  std::string_view data_;
  std::string path_;
  std::string what_;
  size_t pos_ = 0;
};

float AsFloat(uint64_t bits) {
  const auto b32 = static_cast<uint32_t>(bits);
  float f;
  std::memcpy(&f, &b32, sizeof f);
  return f;
}

Status ReadPiece(std::string_view bytes, const std::string& path, size_t index, TokenizerSpec& spec) {
  WireReader r(bytes, path, "piece " + std::to_string(index));
  std::string text;
  float score = 0.0f;
  int32_t type = kNormal;
  while (!r.done()) {
    LLMC_ASSIGN_OR_RETURN(Field f, r.Next());
    if (f.tag == kPieceText && f.wire == kLengthDelimited) text = std::string(f.bytes);
    if (f.tag == kPieceScore && f.wire == kFixed32) score = AsFloat(f.number);
    if (f.tag == kPieceType && f.wire == kVarint) type = static_cast<int32_t>(f.number);
  }
  if (type < kNormal || type > kByte) return Status::Corrupt("{}: piece {} (\"{}\") has unknown type {}", path, index, text, type);
  spec.tokens.push_back(std::move(text));
  spec.scores.push_back(score);
  spec.token_types.push_back(type);
  return Status::OK();
}

// Ids are int32 in the proto: negative values arrive as 64-bit two's complement varints.
int32_t AsId(uint64_t v) { return static_cast<int32_t>(static_cast<int64_t>(v)); }

Status ReadTrainerSpec(std::string_view bytes, const std::string& path, TokenizerSpec& spec) {
  WireReader r(bytes, path, "trainer_spec");
  uint64_t model_type = 1;  // proto default: UNIGRAM
  while (!r.done()) {
    LLMC_ASSIGN_OR_RETURN(Field f, r.Next());
    if (f.wire != kVarint) continue;
    switch (f.tag) {
      case kTrainerModelType: model_type = f.number; break;
      case kTrainerByteFallback: spec.byte_fallback = f.number != 0; break;
      case kTrainerUnkId: spec.unk_id = AsId(f.number); break;
      case kTrainerBosId: spec.bos_id = AsId(f.number); break;
      case kTrainerEosId: spec.eos_id = AsId(f.number); break;
      case kTrainerPadId: spec.pad_id = AsId(f.number); break;
      default: break;
    }
  }
  if (model_type != kModelTypeBpe) {
    return Status::Unsupported("{}: SentencePiece model_type {} is not supported (only BPE = 2; 1 is unigram)", path,
                               model_type);
  }
  return Status::OK();
}

Status ReadNormalizerSpec(std::string_view bytes, const std::string& path, TokenizerSpec& spec) {
  WireReader r(bytes, path, "normalizer_spec");
  std::string name = "nmt_nfkc";  // the trainer's default
  bool remove_extra_whitespaces = true;
  while (!r.done()) {
    LLMC_ASSIGN_OR_RETURN(Field f, r.Next());
    if (f.tag == kNormalizerName && f.wire == kLengthDelimited) name = std::string(f.bytes);
    if (f.tag == kNormalizerAddDummyPrefix && f.wire == kVarint) spec.add_space_prefix = f.number != 0;
    if (f.tag == kNormalizerRemoveExtraWhitespaces && f.wire == kVarint) remove_extra_whitespaces = f.number != 0;
  }
  // LLaMA-family models use the identity normalizer; NFKC tables and whitespace folding are not implemented.
  if (name != "identity") {
    return Status::Unsupported("{}: SentencePiece normalizer \"{}\" is not supported (only \"identity\")", path, name);
  }
  if (remove_extra_whitespaces) {
    return Status::Unsupported("{}: SentencePiece normalizer with remove_extra_whitespaces is not supported", path);
  }
  return Status::OK();
}

}  // namespace

Result<TokenizerSpec> SpecFromSentencePieceModel(const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(std::string data, ReadFileToString(path));
  TokenizerSpec spec;
  spec.model = "spm";
  spec.add_bos = true;  // SentencePiece LLaMA models expect <s>; tokenizer_config.json may say otherwise
  spec.add_space_prefix = true;  // proto default of add_dummy_prefix
  spec.unk_id = 0;  // proto defaults of the trainer spec ids
  spec.bos_id = 1;
  spec.eos_id = 2;
  bool has_trainer_spec = false;
  WireReader r(data, path, "ModelProto");
  while (!r.done()) {
    LLMC_ASSIGN_OR_RETURN(Field f, r.Next());
    if (f.wire != kLengthDelimited) continue;
    if (f.tag == kModelPieces) LLMC_RETURN_IF_ERROR(ReadPiece(f.bytes, path, spec.tokens.size(), spec));
    if (f.tag == kModelTrainerSpec) {
      has_trainer_spec = true;
      LLMC_RETURN_IF_ERROR(ReadTrainerSpec(f.bytes, path, spec));
    }
    if (f.tag == kModelNormalizerSpec) LLMC_RETURN_IF_ERROR(ReadNormalizerSpec(f.bytes, path, spec));
  }
  if (spec.tokens.empty()) return Status::Corrupt("{}: no pieces: not a SentencePiece model", path);
  if (!has_trainer_spec) return Status::Corrupt("{}: no trainer_spec: not a SentencePiece model", path);
  // Only user-defined pieces are matched verbatim by SentencePiece; control pieces such as <s> are not.
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.token_types[i] == kUserDefined) spec.added_tokens.push_back(static_cast<int32_t>(i));
  }
  const auto n = static_cast<int32_t>(spec.tokens.size());
  for (int32_t* id : {&spec.unk_id, &spec.bos_id, &spec.eos_id, &spec.pad_id}) {
    if (*id >= n) return Status::Corrupt("{}: special token id {} is outside the {} pieces", path, *id, n);
  }
  return spec;
}

}  // namespace llmc::tokenizer_internal
