#include "quant/calibration_data.h"

#include <algorithm>
#include <sstream>

#include "llmc/file.h"

namespace llmc {

namespace {

// Plain text is tokenized in pieces of about this many bytes, cut at line ends: only as much of a
// large file as the samples need gets tokenized, and cuts at line ends barely change the tokens.
constexpr size_t kPlainTextPieceBytes = 4096;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsJsonlPath(const std::string& path) { return EndsWith(path, ".jsonl") || EndsWith(path, ".json"); }

Result<std::string> StringField(const nlohmann::json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::Corrupt("{}: missing \"{}\"", where, key);
  if (!it->is_string()) return Status::Corrupt("{}: \"{}\" must be a string, found {}", where, key, it->type_name());
  return it->get<std::string>();
}

// ShareGPT speaker names → chat roles.
std::string RoleOfSpeaker(const std::string& from) {
  if (from == "human" || from == "user") return "user";
  if (from == "gpt" || from == "assistant") return "assistant";
  return from;
}

// Reads a list of {role_key, content_key} turns, e.g. messages[{role, content}].
Result<std::vector<ChatMessage>> ReadTurns(const nlohmann::json& turns, const char* list_key, const char* role_key,
                                           const char* content_key) {
  if (!turns.is_array()) return Status::Corrupt("\"{}\" must be an array, found {}", list_key, turns.type_name());
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < turns.size(); ++i) {
    const std::string where = fmt::format("{}[{}]", list_key, i);
    if (!turns[i].is_object()) return Status::Corrupt("{} must be an object, found {}", where, turns[i].type_name());
    LLMC_ASSIGN_OR_RETURN(std::string role, StringField(turns[i], role_key, where));
    LLMC_ASSIGN_OR_RETURN(std::string content, StringField(turns[i], content_key, where));
    messages.push_back({RoleOfSpeaker(role), std::move(content)});
  }
  return messages;
}

Result<std::vector<ChatMessage>> RecordMessages(const nlohmann::json& record) {
  std::vector<ChatMessage> messages;
  if (record.contains("system_prompt")) {
    LLMC_ASSIGN_OR_RETURN(std::string system, StringField(record, "system_prompt", "record"));
    messages.push_back({"system", std::move(system)});
  }
  std::vector<ChatMessage> turns;
  if (record.contains("messages")) {
    LLMC_ASSIGN_OR_RETURN(turns, ReadTurns(record["messages"], "messages", "role", "content"));
  } else if (record.contains("conversations")) {
    LLMC_ASSIGN_OR_RETURN(turns, ReadTurns(record["conversations"], "conversations", "from", "value"));
  } else {
    LLMC_ASSIGN_OR_RETURN(std::string input, StringField(record, "input", "record"));
    LLMC_ASSIGN_OR_RETURN(std::string output, StringField(record, "output", "record"));
    turns = {{"user", std::move(input)}, {"assistant", std::move(output)}};
  }
  messages.insert(messages.end(), turns.begin(), turns.end());
  return messages;
}

bool HasKnownShape(const nlohmann::json& record) {
  return record.contains("text") || record.contains("messages") || record.contains("conversations") ||
         (record.contains("input") && record.contains("output"));
}

Status CheckOptions(const CalibrationOptions& options) {
  if (options.samples < 1) return Status::Invalid("calibration samples {} (expected at least 1)", options.samples);
  if (options.seq_len < 2) return Status::Invalid("calibration seq_len {} (expected at least 2)", options.seq_len);
  return Status::OK();
}

// A sample: BOS (when the tokenizer adds one) followed by up to seq_len - 1 (or seq_len) tokens.
std::vector<int32_t> StartSample(const Tokenizer& tokenizer) {
  std::vector<int32_t> sample;
  if (tokenizer.add_bos_by_default() && tokenizer.bos_id() >= 0) sample.push_back(tokenizer.bos_id());
  return sample;
}

CalibrationSet WindowsOfPlainText(const std::string& text, const Tokenizer& tokenizer,
                                  const CalibrationOptions& options) {
  const int64_t body_len = options.seq_len - static_cast<int64_t>(StartSample(tokenizer).size());
  const int64_t wanted = options.samples * body_len;
  std::vector<int32_t> stream;
  for (size_t pos = 0; pos < text.size() && static_cast<int64_t>(stream.size()) < wanted;) {
    size_t end = text.find('\n', std::min(text.size(), pos + kPlainTextPieceBytes));
    end = end == std::string::npos ? text.size() : end + 1;
    const std::vector<int32_t> ids = tokenizer.Encode(std::string_view(text).substr(pos, end - pos), false);
    stream.insert(stream.end(), ids.begin(), ids.end());
    pos = end;
  }
  CalibrationSet set;
  for (int64_t start = 0; start < static_cast<int64_t>(stream.size()) && start < wanted; start += body_len) {
    std::vector<int32_t> sample = StartSample(tokenizer);
    const int64_t end = std::min<int64_t>(start + body_len, static_cast<int64_t>(stream.size()));
    sample.insert(sample.end(), stream.begin() + start, stream.begin() + end);
    set.samples.push_back(std::move(sample));
  }
  return set;
}

CalibrationSet SamplesOfRecords(const std::vector<std::string>& texts, const Tokenizer& tokenizer,
                                const CalibrationOptions& options) {
  CalibrationSet set;
  for (const std::string& text : texts) {
    std::vector<int32_t> sample = StartSample(tokenizer);
    const std::vector<int32_t> ids = tokenizer.Encode(text, false);
    if (ids.empty()) continue;
    const size_t room = static_cast<size_t>(options.seq_len) - sample.size();
    sample.insert(sample.end(), ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(room, ids.size())));
    set.samples.push_back(std::move(sample));
  }
  return set;
}

}  // namespace

int64_t CalibrationSet::total_tokens() const {
  int64_t n = 0;
  for (const auto& s : samples) n += static_cast<int64_t>(s.size());
  return n;
}

ChatFormat DetectChatFormat(const nlohmann::json& tokenizer_spec) {
  if (!tokenizer_spec.is_object()) return ChatFormat::kPlain;
  auto it = tokenizer_spec.find("chat_template");
  if (it == tokenizer_spec.end() || !it->is_string()) return ChatFormat::kPlain;
  const std::string& tmpl = it->get_ref<const std::string&>();
  if (tmpl.find("<|im_start|>") != std::string::npos) return ChatFormat::kChatMl;
  if (tmpl.find("<|start_header_id|>") != std::string::npos) return ChatFormat::kLlama3;
  return ChatFormat::kPlain;
}

std::string RenderChat(const std::vector<ChatMessage>& messages, ChatFormat format) {
  std::string out;
  for (const ChatMessage& m : messages) {
    switch (format) {
      case ChatFormat::kChatMl: out += fmt::format("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content); break;
      case ChatFormat::kLlama3:
        out += fmt::format("<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>", m.role, m.content);
        break;
      case ChatFormat::kPlain: out += fmt::format("{}: {}\n", m.role, m.content); break;
    }
  }
  return out;
}

Result<std::string> RenderCalibrationRecord(const nlohmann::json& record, ChatFormat format) {
  if (!record.is_object()) return Status::Corrupt("expected a JSON object, found {}", record.type_name());
  if (!HasKnownShape(record)) {
    return Status::Corrupt(
        "expected one of \"text\", \"messages\", \"conversations\" or \"input\"+\"output\", found keys {}",
        [&] {
          std::string keys;
          for (const auto& [k, v] : record.items()) keys += (keys.empty() ? "" : ", ") + k;
          return keys.empty() ? std::string("(none)") : keys;
        }());
  }
  if (record.contains("text")) return StringField(record, "text", "record");
  LLMC_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, RecordMessages(record));
  return RenderChat(messages, format);
}

Result<std::vector<std::string>> ReadJsonlTexts(const std::string& path, ChatFormat format, int64_t max_records) {
  LLMC_ASSIGN_OR_RETURN(std::string contents, ReadFileToString(path));
  std::istringstream lines(contents);
  std::vector<std::string> texts;
  std::string line;
  for (int64_t line_no = 1; static_cast<int64_t>(texts.size()) < max_records && std::getline(lines, line);
       ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) return Status::Corrupt("{}:{}: not valid JSON", path, line_no);
    Result<std::string> text = RenderCalibrationRecord(record, format);
    if (!text.ok()) return Status::Corrupt("{}:{}: {}", path, line_no, text.status().message());
    texts.push_back(std::move(text).value());
  }
  return texts;
}

Result<CalibrationSet> LoadCalibrationData(const std::string& path, const Tokenizer& tokenizer, ChatFormat format,
                                           const CalibrationOptions& options) {
  LLMC_RETURN_IF_ERROR(CheckOptions(options));
  CalibrationSet set;
  if (IsJsonlPath(path)) {
    LLMC_ASSIGN_OR_RETURN(std::vector<std::string> texts, ReadJsonlTexts(path, format, options.samples));
    set = SamplesOfRecords(texts, tokenizer, options);
  } else {
    LLMC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
    set = WindowsOfPlainText(text, tokenizer, options);
  }
  if (set.samples.empty()) return Status::Invalid("{}: no calibration tokens (the file holds no text)", path);
  return set;
}

}  // namespace llmc
