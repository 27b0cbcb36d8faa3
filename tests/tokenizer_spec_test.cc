// The canonical tokenizer spec: import from HF directories and GGUF keys, and rejection of bad input
// with messages that name the file or key.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <random>

#include "llmc/tokenizer.h"
#include "test_util.h"

namespace llmc {
namespace {

using nlohmann::json;

void ExpectErrorMentions(const Status& st, StatusCode code, const std::string& needle) {
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
}

TEST(TokenizerSpecTest, Stories260KSentencePieceModelImports) {
  auto spec = TokenizerSpecFromHfDir(testing::Stories260KDir());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  const json& s = *spec;
  EXPECT_EQ(s["model"], "spm");
  ASSERT_EQ(s["tokens"].size(), 512u);
  EXPECT_EQ(s["scores"].size(), 512u);
  EXPECT_EQ(s["tokens"][0], "<unk>");
  EXPECT_EQ(s["token_types"][0], 2);  // unknown
  EXPECT_EQ(s["token_types"][1], 3);  // control <s>
  EXPECT_EQ(s["tokens"][3], "<0x00>");
  EXPECT_EQ(s["token_types"][3], 6);  // byte
  EXPECT_EQ(s["unk_id"], 0);
  EXPECT_EQ(s["bos_id"], 1);
  EXPECT_EQ(s["eos_id"], 2);
  EXPECT_TRUE(s["pad_id"].is_null());
  EXPECT_EQ(s["add_bos"], true);
  EXPECT_EQ(s["add_space_prefix"], true);
  EXPECT_EQ(s["byte_fallback"], true);
  EXPECT_TRUE(s["chat_template"].is_null());
  EXPECT_TRUE(s["added_tokens"].empty());  // SentencePiece never matches <s> in text
}

TEST(TokenizerSpecTest, ByteLevelTokenizerJsonNamesItsPreTokenizer) {
  for (const std::string name : {"gpt2", "llama3", "qwen2"}) {
    auto spec = TokenizerSpecFromHfDir(testing::FixturesDir() + "/tokenizer/" + name);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_EQ((*spec)["model"], "bpe");
    EXPECT_EQ((*spec)["pre"], name);
    EXPECT_EQ((*spec)["ignore_merges"], name == "llama3");
    EXPECT_EQ((*spec)["added_tokens"], json({0, 1, 2}));
    EXPECT_EQ((*spec)["token_types"][0], 3);
    EXPECT_EQ((*spec)["add_bos"], false);
    EXPECT_GT((*spec)["merges"].size(), 400u);
  }
}

TEST(TokenizerSpecTest, SentencePieceStyleTokenizerJsonBecomesSpm) {
  auto spec = TokenizerSpecFromHfDir(testing::FixturesDir() + "/tokenizer/stories260k_hf");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ((*spec)["model"], "spm");
  EXPECT_EQ((*spec)["add_space_prefix"], true);
  EXPECT_EQ((*spec)["byte_fallback"], true);
  EXPECT_EQ((*spec)["unk_id"], 0);
  EXPECT_EQ((*spec)["token_types"][3], 6);  // <0x00> is a byte piece
  EXPECT_EQ((*spec)["scores"].size(), 512u);
  EXPECT_FALSE(spec->contains("merges"));
}

TEST(TokenizerSpecTest, DirectoryWithoutTokenizerGivesNull) {
  testing::ScratchDir dir;
  auto spec = TokenizerSpecFromHfDir(dir.path());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(spec->is_null());
}

TEST(TokenizerSpecTest, TokenizerConfigOverridesBosAndAddsChatTemplate) {
  testing::ScratchDir dir;
  const std::string src = testing::FixturesDir() + "/tokenizer/gpt2/tokenizer.json";
  testing::WriteFile(dir.File("tokenizer.json"), testing::ReadFile(src));
  testing::WriteFile(dir.File("tokenizer_config.json"),
                     R"({"add_bos_token": true, "bos_token": {"content": "<|im_start|>"}, "eos_token": "<|im_end|>",
                         "chat_template": "{{ messages }}"})");
  auto spec = TokenizerSpecFromHfDir(dir.path());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ((*spec)["bos_id"], 1);
  EXPECT_EQ((*spec)["eos_id"], 2);
  EXPECT_EQ((*spec)["add_bos"], true);
  EXPECT_EQ((*spec)["chat_template"], "{{ messages }}");

  testing::WriteFile(dir.File("tokenizer_config.json"), R"({"eos_token": "<|not_a_token|>"})");
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kCorrupt, "tokenizer_config.json");
}

TEST(TokenizerSpecTest, MalformedFilesAreCorruptAndNamed) {
  testing::ScratchDir dir;
  const std::string model = testing::ReadFile(testing::Stories260KDir() + "/tokenizer.model");
  testing::WriteFile(dir.File("tokenizer.model"), model.substr(0, model.size() / 2));
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kCorrupt, dir.File("tokenizer.model"));

  testing::WriteFile(dir.File("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kCorrupt, dir.File("tokenizer.json"));

  testing::WriteFile(dir.File("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {"a": 0, "c": 2}, "merges": []}})");
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kCorrupt, "no token has id 1");

  json j = json::parse(testing::ReadFile(testing::FixturesDir() + "/tokenizer/gpt2/tokenizer.json"));
  j["added_tokens"][0]["special"] = "yes";
  testing::WriteFile(dir.File("tokenizer.json"), j.dump());
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kCorrupt, dir.File("tokenizer.json"));
}

TEST(TokenizerSpecTest, UnsupportedTokenizerJsonIsNamed) {
  testing::ScratchDir dir;
  testing::WriteFile(dir.File("tokenizer.json"), R"({"model": {"type": "Unigram", "vocab": []}})");
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kUnsupported, "Unigram");

  json j = json::parse(testing::ReadFile(testing::FixturesDir() + "/tokenizer/llama3/tokenizer.json"));
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
  testing::WriteFile(dir.File("tokenizer.json"), j.dump());
  ExpectErrorMentions(TokenizerSpecFromHfDir(dir.path()).status(), StatusCode::kUnsupported, "\\w+");
}

json TinyGgufKeys(const std::string& model) {
  json keys = {{"tokenizer.ggml.model", model},
               {"tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "\xE2\x96\x81" "a"}},
               {"tokenizer.ggml.scores", {0.0, 0.0, 0.0, -1.0, -2.0, -0.5}},
               {"tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1}},
               {"tokenizer.chat_template", "{{ x }}"}};
  if (model == "gpt2") {
    keys["tokenizer.ggml.merges"] = {"\xE2\x96\x81 a"};
    keys["tokenizer.ggml.pre"] = "qwen2";
  }
  return keys;
}

TEST(TokenizerSpecTest, GgufKeysFollowLlamaCppDefaults) {
  auto spm = TokenizerSpecFromGgufKeys(TinyGgufKeys("llama"));
  ASSERT_TRUE(spm.ok()) << spm.status().ToString();
  EXPECT_EQ((*spm)["model"], "spm");
  EXPECT_EQ((*spm)["bos_id"], 1);
  EXPECT_EQ((*spm)["eos_id"], 2);
  EXPECT_EQ((*spm)["unk_id"], 0);
  EXPECT_EQ((*spm)["add_bos"], true);
  EXPECT_EQ((*spm)["add_space_prefix"], true);
  EXPECT_EQ((*spm)["byte_fallback"], false);  // no byte tokens
  EXPECT_EQ((*spm)["added_tokens"], json({1, 2}));
  EXPECT_EQ((*spm)["chat_template"], "{{ x }}");
  auto tok = Tokenizer::FromSpec(*spm);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("a a", false), std::vector<int32_t>({5, 5}));
  EXPECT_EQ((*tok)->Decode(std::vector<int32_t>{1, 5, 5}), "a a");

  json keys = TinyGgufKeys("gpt2");
  keys["tokenizer.ggml.add_bos_token"] = true;
  keys["tokenizer.ggml.bos_token_id"] = 2;
  auto bpe = TokenizerSpecFromGgufKeys(keys);
  ASSERT_TRUE(bpe.ok()) << bpe.status().ToString();
  EXPECT_EQ((*bpe)["model"], "bpe");
  EXPECT_EQ((*bpe)["pre"], "qwen2");
  EXPECT_EQ((*bpe)["bos_id"], 2);
  EXPECT_EQ((*bpe)["add_bos"], true);
  EXPECT_EQ((*bpe)["add_space_prefix"], false);

  EXPECT_TRUE(TokenizerSpecFromGgufKeys(json::object())->is_null());
}

TEST(TokenizerSpecTest, BadGgufKeysAreNamed) {
  ExpectErrorMentions(TokenizerSpecFromGgufKeys(TinyGgufKeys("t5")).status(), StatusCode::kUnsupported, "t5");
  json keys = TinyGgufKeys("gpt2");
  keys.erase("tokenizer.ggml.merges");
  ExpectErrorMentions(TokenizerSpecFromGgufKeys(keys).status(), StatusCode::kCorrupt, "tokenizer.ggml.merges");
  keys = TinyGgufKeys("llama");
  keys["tokenizer.ggml.eos_token_id"] = 99;
  ExpectErrorMentions(TokenizerSpecFromGgufKeys(keys).status(), StatusCode::kCorrupt, "eos_id");
  keys = TinyGgufKeys("gpt2");
  keys["tokenizer.ggml.pre"] = 7;
  ExpectErrorMentions(TokenizerSpecFromGgufKeys(keys).status(), StatusCode::kCorrupt, "tokenizer.ggml.pre");
  keys = TinyGgufKeys("llama");
  keys["tokenizer.ggml.scores"] = {0.0};
  ExpectErrorMentions(TokenizerSpecFromGgufKeys(keys).status(), StatusCode::kCorrupt, "scores");
}

TEST(TokenizerSpecTest, FromSpecRejectsBadSpecs) {
  json good = *TokenizerSpecFromGgufKeys(TinyGgufKeys("gpt2"));
  ASSERT_TRUE(Tokenizer::FromSpec(good).ok());

  json bad = good;
  bad["model"] = "wordpiece";
  ExpectErrorMentions(Tokenizer::FromSpec(bad).status(), StatusCode::kUnsupported, "wordpiece");
  bad = good;
  bad.erase("tokens");
  ExpectErrorMentions(Tokenizer::FromSpec(bad).status(), StatusCode::kCorrupt, "tokens");
  bad = good;
  bad["pre"] = "falcon";
  ExpectErrorMentions(Tokenizer::FromSpec(bad).status(), StatusCode::kUnsupported, "falcon");
  bad = good;
  bad["token_types"][0] = 9;
  ExpectErrorMentions(Tokenizer::FromSpec(bad).status(), StatusCode::kCorrupt, "token_types[0]");
  bad = good;
  bad["added_tokens"] = {42};
  ExpectErrorMentions(Tokenizer::FromSpec(bad).status(), StatusCode::kCorrupt, "added_tokens[0]");
  bad = *TokenizerSpecFromGgufKeys(TinyGgufKeys("llama"));
  bad["scores"][4] = std::nan("");
  ExpectErrorMentions(Tokenizer::FromSpec(bad).status(), StatusCode::kCorrupt, "scores[4]");
  EXPECT_EQ(Tokenizer::FromSpec(json(nullptr)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Tokenizer::FromSpec(json::array()).status().code(), StatusCode::kCorrupt);
}

// Mutated tokenizer files either import or fail with a Status; whatever imports, builds or fails cleanly.
TEST(TokenizerSpecTest, MutatedFilesNeverCrash) {
  testing::ScratchDir dir;
  const std::string model = testing::ReadFile(testing::Stories260KDir() + "/tokenizer.model");
  const std::string tokenizer_json = testing::ReadFile(testing::FixturesDir() + "/tokenizer/qwen2/tokenizer.json");
  std::mt19937 rng(7);
  int imported = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const bool use_json = trial % 2 == 1;
    std::string bytes = use_json ? tokenizer_json : model;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % bytes.size());
    std::remove(dir.File("tokenizer.json").c_str());
    testing::WriteFile(dir.File(use_json ? "tokenizer.json" : "tokenizer.model"), bytes);
    auto spec = TokenizerSpecFromHfDir(dir.path());
    if (!spec.ok()) continue;
    ++imported;
    auto tok = Tokenizer::FromSpec(*spec);
    if (tok.ok()) (*tok)->Decode((*tok)->Encode("Hello, world 123 \xE4\xB8\xAD", true));
  }
  EXPECT_GT(imported, 0);
}

}  // namespace
}  // namespace llmc
