// ImportModel: picks the reader from what the path is (a HuggingFace directory or a GGUF file) and
// assembles config, tokenizer spec and lazily loaded tensors.
#include "llmc/import.h"

#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "llmc/file.h"
#include "llmc/tokenizer.h"

namespace llmc {
namespace {

// Files from which a HuggingFace tokenizer is built; a directory with none of them has no tokenizer.
bool HasTokenizerFiles(const std::string& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "merges.txt"}) {
    if (FileExists(dir + "/" + name)) return true;
  }
  return false;
}

// Non-persistent buffers some older exports include; they are recomputed from the config.
bool IsDerivedBuffer(const std::string& name) {
  static const std::string kSuffix = ".rotary_emb.inv_freq";
  return name.size() >= kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

Result<ImportedModel> ImportHfDirectory(const std::string& dir) {
  ImportedModel m;
  m.source_path = dir;
  m.source_format = "safetensors";
  LLMC_ASSIGN_OR_RETURN(m.config, ReadHfConfig(dir));
  LLMC_ASSIGN_OR_RETURN(auto tensors, ReadSafetensorsCheckpoint(dir));
  if (HasTokenizerFiles(dir)) {
    LLMC_ASSIGN_OR_RETURN(m.tokenizer, TokenizerSpecFromHfDir(dir));
  }
  for (auto& t : tensors) {
    if (IsDerivedBuffer(t.name)) continue;
    TensorSource src;
    src.name = t.name;
    src.shape = t.shape;
    src.source_type = t.dtype_name;
    src.load = [t = std::move(t)]() -> Result<WeightTensor> { return ToWeightTensor(t, t.name); };
    m.tensors.push_back(std::move(src));
  }
  return m;
}

Encoding FloatEncodingOf(GgmlType t) {
  return t == GgmlType::kF16 ? Encoding::kF16 : t == GgmlType::kBF16 ? Encoding::kBF16 : Encoding::kF32;
}

// Float tensors stay as stored (a view into the mapping); quantized ones are decoded to F32. q/k rows
// that llama.cpp permuted are put back into HF order.
Result<WeightTensor> LoadGgufTensor(const GgufFile& gguf, const GgufTensorInfo& info, const std::string& hf_name,
                                    int64_t permuted_heads) {
  const Bytes raw = gguf.TensorData(info);
  WeightTensor w;
  if (info.type->is_float) {
    w.name = hf_name;
    w.shape = info.shape;
    w.encoding = FloatEncodingOf(info.type->type);
    const bool aligned = reinterpret_cast<uintptr_t>(raw.data()) % info.type->block_bytes == 0;
    w.data = aligned ? raw : Bytes::CopyOf(raw.data(), raw.size());
  } else {
    const int64_t numel = static_cast<int64_t>(raw.size()) / info.type->block_bytes * info.type->block_elems;
    w = MakeF32Tensor(hf_name, info.shape, DequantizeToF32(*info.type, raw.data(), numel));
  }
  if (permuted_heads == 0) return w;
  auto unpermuted = UnpermuteHeadRows(w, permuted_heads);
  if (!unpermuted.ok()) return unpermuted.status().WithContext(gguf.path());
  return unpermuted;
}

Result<ImportedModel> ImportGgufFile(const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(std::shared_ptr<GgufFile> gguf, GgufFile::Open(path));
  ImportedModel m;
  m.source_path = path;
  m.source_format = "gguf";
  LLMC_ASSIGN_OR_RETURN(m.config, ModelConfigFromGguf(*gguf));
  LLMC_ASSIGN_OR_RETURN(m.tokenizer, TokenizerSpecFromGgufKeys(GgufTokenizerKeys(*gguf)));
  for (const GgufTensorInfo& info : gguf->tensors()) {
    auto hf_name = HfTensorName(info.name, m.config.num_layers);
    if (!hf_name.ok()) return hf_name.status().WithContext(path);
    TensorSource src;
    src.name = *hf_name;
    src.shape = info.shape;
    src.source_type = info.type->name;
    const int64_t permuted_heads = PermutedHeadCount(m.config, *hf_name);
    src.load = [gguf, &info, name = *hf_name, permuted_heads]() {
      return LoadGgufTensor(*gguf, info, name, permuted_heads);
    };
    m.tensors.push_back(std::move(src));
  }
  return m;
}

}  // namespace

Result<ImportedModel> ImportModel(const std::string& path) {
  if (IsDirectory(path)) return ImportHfDirectory(path);
  if (!FileExists(path)) return Status::NotFound("{}: no such file or directory", path);
  // A .gguf name with the wrong magic goes to the GGUF reader too, which reports the bad magic.
  const bool gguf_name = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  if (HasGgufMagic(path) || gguf_name) return ImportGgufFile(path);
  return Status::Unsupported("{}: expected a HuggingFace directory or a .gguf file", path);
}

}  // namespace llmc
