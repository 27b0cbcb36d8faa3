// Calibration data for the calibrated quantizers (GPTQ): a text file becomes a list of token
// sequences that the model runs layer by layer to collect its activation statistics.
//
// Two input shapes, chosen by the file's extension:
// - ".jsonl" / ".json": one JSON object per line, in AngelSlim's shapes — {"text": ...},
//   {"messages": [{"role", "content"}]}, {"input", "output"}, {"conversations": [{"from", "value"}]},
//   each optionally with "system_prompt". Every record is one sample, truncated to seq_len.
// - anything else is plain text: the whole text is tokenized as one stream (in paragraph-sized
//   pieces, stopping once enough tokens are in hand) and cut into consecutive seq_len windows.
// A sample shorter than seq_len stays short: padding never enters the statistics.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "llmc/status.h"
#include "llmc/tokenizer.h"

namespace llmc {

struct CalibrationOptions {
  int64_t samples = 128;  // at most this many sequences
  int64_t seq_len = 512;  // tokens per sequence (BOS included when the tokenizer adds one)
};

struct CalibrationSet {
  std::vector<std::vector<int32_t>> samples;  // each 1..seq_len tokens, never padded
  int64_t total_tokens() const;
};

// How chat records are rendered to text. Not a Jinja engine: the model's chat_template (tokenizer
// spec) is only recognised by its markers and replayed with a fixed renderer.
enum class ChatFormat {
  kChatMl,  // "<|im_start|>role\ncontent<|im_end|>\n" (SmolLM2, Qwen)
  kLlama3,  // "<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>"
  kPlain,   // "role: content" lines (no chat template, or one we do not recognise)
};
ChatFormat DetectChatFormat(const nlohmann::json& tokenizer_spec);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};
std::string RenderChat(const std::vector<ChatMessage>& messages, ChatFormat format);

// Renders one jsonl record (already parsed) to its text; the error says which shape was expected.
Result<std::string> RenderCalibrationRecord(const nlohmann::json& record, ChatFormat format);

// Reads the texts of at most max_records records of a jsonl file (blank lines skipped). A line that
// is not valid JSON or has no known shape → Corrupt naming the file and the line number.
Result<std::vector<std::string>> ReadJsonlTexts(const std::string& path, ChatFormat format, int64_t max_records);

// Loads and tokenizes a calibration file (see the file comment for how it is split).
Result<CalibrationSet> LoadCalibrationData(const std::string& path, const Tokenizer& tokenizer, ChatFormat format,
                                           const CalibrationOptions& options);

}  // namespace llmc
