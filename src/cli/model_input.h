// What the measuring subcommands share: open a stored model with its tokenizer, read a text file
// into tokens, and the flags that choose the evaluation windows.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "llmc/eval.h"
#include "llmc/model.h"
#include "llmc/tokenizer.h"

namespace llmc::cli {

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
};

Result<LoadedModel> LoadModelWithTokenizer(const std::string& store_path);

// Reads a UTF-8 text file and tokenizes it as the model expects (no BOS: windows add it when needed).
Result<std::vector<int32_t>> TokenizeTextFile(const Tokenizer& tokenizer, const std::string& path);

struct WindowFlags {
  int64_t ctx = 512;
  int64_t chunks = 0;
};
void AddWindowFlags(CLI::App* cmd, WindowFlags& flags);
PerplexityOptions ToPerplexityOptions(const WindowFlags& flags, const Tokenizer& tokenizer);

// --threads N for the kernels and attention (0 = all cores).
void AddThreadsFlag(CLI::App* cmd, int& threads);
void ApplyThreads(int threads);

// --kv-cache f32|f16: the KV cache's element type (KvCacheType; its value now is the default), and its
// name in reports. The speed commands (bench, generate) default to f16 as llama.cpp does; the
// measuring ones (perplexity, validate) to f32, the precision of the reference they compare with.
void AddKvCacheFlag(CLI::App* cmd, KvCacheType& type);
const char* KvCacheName(KvCacheType type);

// The validation table `validate` and `quantize --validate` print.
void PrintValidation(const ValidationResult& v);

}  // namespace llmc::cli
