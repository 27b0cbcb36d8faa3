// Calibration data: jsonl shapes, chat rendering, plain-text windows, errors naming file and line.
#include <gtest/gtest.h>

#include "quant/calibration_data.h"
#include "test_util.h"

namespace llmc {
namespace {

// One token per byte (id = byte + 1) so expected ids can be written from the text itself.
class ByteTokenizer : public Tokenizer {
 public:
  explicit ByteTokenizer(bool add_bos) : add_bos_(add_bos) {}
  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> ids;
    if (add_bos) ids.push_back(bos_id());
    for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c) + 1);
    return ids;
  }
  std::string Decode(std::span<const int32_t> ids) const override {
    std::string s;
    for (int32_t id : ids) {
      if (id > 0) s += static_cast<char>(id - 1);
    }
    return s;
  }
  int64_t vocab_size() const override { return 257; }
  int32_t bos_id() const override { return 0; }
  int32_t eos_id() const override { return -1; }
  bool add_bos_by_default() const override { return add_bos_; }

 private:
  bool add_bos_;
};

std::string Fixture(const std::string& name) { return testing::FixturesDir() + "/calib/" + name; }

TEST(CalibrationData, JsonlShapesRenderAsChatMl) {
  auto texts = ReadJsonlTexts(Fixture("shapes.jsonl"), ChatFormat::kChatMl, 100);
  ASSERT_TRUE(texts.ok()) << texts.status().ToString();
  ASSERT_EQ(texts->size(), 4u);
  EXPECT_EQ((*texts)[0], "plain text record");
  EXPECT_EQ((*texts)[1],
            "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
            "<|im_start|>assistant\nhello<|im_end|>\n");
  EXPECT_EQ((*texts)[2], "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n");
  EXPECT_EQ((*texts)[3], "<|im_start|>user\nname?<|im_end|>\n<|im_start|>assistant\nSmolLM<|im_end|>\n");
}

TEST(CalibrationData, PlainAndLlama3Rendering) {
  const std::vector<ChatMessage> chat = {{"user", "hi"}, {"assistant", "yo"}};
  EXPECT_EQ(RenderChat(chat, ChatFormat::kPlain), "user: hi\nassistant: yo\n");
  EXPECT_EQ(RenderChat(chat, ChatFormat::kLlama3),
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>");
}

TEST(CalibrationData, DetectsChatFormatFromSpec) {
  EXPECT_EQ(DetectChatFormat(nlohmann::json{{"chat_template", "{% for m in messages %}<|im_start|>..."}}),
            ChatFormat::kChatMl);
  EXPECT_EQ(DetectChatFormat(nlohmann::json{{"chat_template", "<|start_header_id|>{{ role }}"}}),
            ChatFormat::kLlama3);
  EXPECT_EQ(DetectChatFormat(nlohmann::json{{"chat_template", nullptr}}), ChatFormat::kPlain);
  EXPECT_EQ(DetectChatFormat(nlohmann::json()), ChatFormat::kPlain);
}

TEST(CalibrationData, BadLinesNameFileAndLine) {
  auto bad_json = ReadJsonlTexts(Fixture("bad_json.jsonl"), ChatFormat::kPlain, 100);
  ASSERT_FALSE(bad_json.ok());
  EXPECT_EQ(bad_json.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(bad_json.status().message().find("bad_json.jsonl:2: not valid JSON"), std::string::npos)
      << bad_json.status().message();

  auto bad_shape = ReadJsonlTexts(Fixture("bad_shape.jsonl"), ChatFormat::kPlain, 100);
  ASSERT_FALSE(bad_shape.ok());
  EXPECT_NE(bad_shape.status().message().find("bad_shape.jsonl:3:"), std::string::npos);
  EXPECT_NE(bad_shape.status().message().find("found keys prompt"), std::string::npos)
      << bad_shape.status().message();

  auto bad_type = ReadJsonlTexts(Fixture("bad_type.jsonl"), ChatFormat::kPlain, 100);
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.status().message().find("bad_type.jsonl:1: messages[0]: \"content\" must be a string"),
            std::string::npos)
      << bad_type.status().message();
}

TEST(CalibrationData, MaxRecordsStopsBeforeLaterBadLines) {
  auto texts = ReadJsonlTexts(Fixture("bad_shape.jsonl"), ChatFormat::kPlain, 2);
  ASSERT_TRUE(texts.ok()) << texts.status().ToString();
  EXPECT_EQ(texts->size(), 2u);
}

TEST(CalibrationData, JsonlRecordsAreTruncatedNeverPadded) {
  ByteTokenizer tok(/*add_bos=*/true);
  auto set = LoadCalibrationData(Fixture("shapes.jsonl"), tok, ChatFormat::kPlain, {.samples = 2, .seq_len = 8});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->samples.size(), 2u);
  // BOS then the first 7 bytes of "plain text record".
  EXPECT_EQ(set->samples[0], (std::vector<int32_t>{0, 'p' + 1, 'l' + 1, 'a' + 1, 'i' + 1, 'n' + 1, ' ' + 1, 't' + 1}));
  EXPECT_EQ(set->samples[1].size(), 8u);

  auto whole = LoadCalibrationData(Fixture("shapes.jsonl"), tok, ChatFormat::kPlain, {.samples = 10, .seq_len = 100});
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(whole->samples.size(), 4u);
  EXPECT_EQ(whole->samples[0].size(), 1u + 17u);  // short record stays short
  EXPECT_EQ(tok.Decode(whole->samples[2]), "user: 2+2?\nassistant: 4\n");
}

TEST(CalibrationData, PlainTextIsCutIntoConsecutiveWindows) {
  testing::ScratchDir dir;
  const std::string path = dir.File("calib.txt");
  std::string text;
  for (int i = 0; i < 3000; ++i) text += static_cast<char>('a' + i % 26);
  text += "\nlast line\n";
  testing::WriteFile(path, text);
  ByteTokenizer tok(/*add_bos=*/false);

  auto set = LoadCalibrationData(path, tok, ChatFormat::kPlain, {.samples = 3, .seq_len = 1000});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->samples.size(), 3u);
  for (const auto& s : set->samples) EXPECT_EQ(s.size(), 1000u);
  EXPECT_EQ(tok.Decode(set->samples[1]), text.substr(1000, 1000));
  EXPECT_EQ(set->total_tokens(), 3000);

  // More samples than the text holds: the last window keeps its true (short) length.
  auto all = LoadCalibrationData(path, tok, ChatFormat::kPlain, {.samples = 10, .seq_len = 1000});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->samples.size(), 4u);
  EXPECT_EQ(tok.Decode(all->samples[3]), "\nlast line\n");

  ByteTokenizer with_bos(/*add_bos=*/true);
  auto bos = LoadCalibrationData(path, with_bos, ChatFormat::kPlain, {.samples = 2, .seq_len = 10});
  ASSERT_TRUE(bos.ok());
  EXPECT_EQ(bos->samples[1][0], 0);
  EXPECT_EQ(with_bos.Decode(bos->samples[1]), text.substr(9, 9));
}

TEST(CalibrationData, RejectsEmptyFilesAndBadOptions) {
  testing::ScratchDir dir;
  testing::WriteFile(dir.File("empty.txt"), "");
  ByteTokenizer tok(false);
  auto empty = LoadCalibrationData(dir.File("empty.txt"), tok, ChatFormat::kPlain, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty.txt: no calibration tokens"), std::string::npos);

  auto bad = LoadCalibrationData(dir.File("empty.txt"), tok, ChatFormat::kPlain, {.samples = 0, .seq_len = 512});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  auto missing = LoadCalibrationData(dir.File("nope.jsonl"), tok, ChatFormat::kPlain, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace llmc
