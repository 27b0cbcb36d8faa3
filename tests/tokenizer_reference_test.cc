// Tokenizers against reference encodings made by the real libraries (scripts/make_tokenizer_fixtures.py):
// sentencepiece for stories260K, HF tokenizers for SmolLM2 (spec imported from the GGUF itself) and for
// tiny byte-level BPEs trained with the GPT-2, Llama 3 and Qwen2 pre-tokenizers.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <nlohmann/json.hpp>

#include "llmc/file.h"
#include "llmc/import.h"
#include "llmc/tokenizer.h"
#include "test_util.h"

namespace llmc {
namespace {

using nlohmann::json;

// Order-sensitive summary of a long id list, the same as checksum() in the fixture script.
std::string Checksum(const std::vector<int32_t>& ids) {
  constexpr unsigned __int128 kMod = 2305843009213693951ULL;  // 2^61 - 1
  unsigned __int128 h = 0;
  for (size_t i = 0; i < ids.size(); ++i) h = (h * 1000003 + static_cast<unsigned>(ids[i]) + 1 + i % 7) % kMod;
  return std::to_string(static_cast<uint64_t>(h));
}

json LoadJson(const std::string& path) { return json::parse(testing::ReadFile(path)); }

json SpecFor(const std::string& name) {
  if (name == "smollm2") {  // through the GGUF importer: its tokenizer.* keys -> TokenizerSpecFromGgufKeys
    const std::string gguf = testing::SmolLM2GgufPath();
    EXPECT_TRUE(FileExists(gguf)) << "SmolLM2 GGUF missing: run scripts/setup.sh";
    auto model = ImportModel(gguf);
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    return model.ok() ? model->tokenizer : json(nullptr);
  }
  if (name == "stories260k_gguf") {  // the same vocabulary as GGUF "llama" keys, as llama.cpp's converter writes them
    const json hf = SpecFor("stories260k");
    return *TokenizerSpecFromGgufKeys({{"tokenizer.ggml.model", "llama"},
                                       {"tokenizer.ggml.tokens", hf["tokens"]},
                                       {"tokenizer.ggml.scores", hf["scores"]},
                                       {"tokenizer.ggml.token_type", hf["token_types"]}});
  }
  const std::string dir = name == "stories260k" ? testing::Stories260KDir() : testing::FixturesDir() + "/tokenizer/" + name;
  auto spec = TokenizerSpecFromHfDir(dir);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  return spec.ok() ? *spec : json(nullptr);
}

// One tokenizer per fixture name, built once for the whole suite.
const Tokenizer& TokenizerFor(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> built;
  auto& slot = built[name];
  if (!slot) {
    auto tok = Tokenizer::FromSpec(SpecFor(name));
    EXPECT_TRUE(tok.ok()) << name << ": " << tok.status().ToString();
    if (tok.ok()) slot = std::move(*tok);
  }
  return *slot;
}

class TokenizerReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  // The GGUF form matches control tokens such as <s> in text (llama.cpp parse_special, HF): it shares the
  // cases that leave them out, whose ids are sentencepiece's too.
  json Cases() const {
    const std::string cases = GetParam() == "stories260k_gguf" ? "stories260k_hf" : GetParam();
    return LoadJson(testing::FixturesDir() + "/tokenizer/" + cases + "_cases.json");
  }
};

TEST_P(TokenizerReferenceTest, EncodesEveryCaseToTheReferenceIds) {
  const Tokenizer& tok = TokenizerFor(GetParam());
  const json cases = Cases()["cases"];
  ASSERT_GE(cases.size(), 40u);
  for (const json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(tok.Encode(text, /*add_bos=*/false), c["ids"].get<std::vector<int32_t>>()) << "text: \"" << text << "\"";
  }
}

TEST_P(TokenizerReferenceTest, DecodesReferenceIdsLikeTheReference) {
  const Tokenizer& tok = TokenizerFor(GetParam());
  const json cases = Cases()["cases"];
  for (const json& c : cases) {
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.Decode(ids), c["decoded"].get<std::string>()) << "text: \"" << c["text"].get<std::string>() << "\"";
  }
}

TEST_P(TokenizerReferenceTest, RoundTripsTextTheReferenceRoundTrips) {
  const Tokenizer& tok = TokenizerFor(GetParam());
  int round_trips = 0;
  const json cases = Cases()["cases"];
  for (const json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    if (c["decoded"].get<std::string>() != text) continue;
    ++round_trips;
    EXPECT_EQ(tok.Decode(tok.Encode(text, false)), text);
  }
  EXPECT_GE(round_trips, 30);
}

// A whole evaluation file (hundreds of KB), summarised by token count and checksum. Timing is printed,
// never asserted.
TEST_P(TokenizerReferenceTest, EncodesAWholeEvaluationFileLikeTheReference) {
  const Tokenizer& tok = TokenizerFor(GetParam());
  const json corpus = Cases()["corpus"];
  const std::string text = testing::ReadFile(testing::SharedDir() + "/" + corpus["path"].get<std::string>());
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = tok.Encode(text, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ %s ] %zu bytes -> %zu tokens in %.3f s\n", GetParam().c_str(), text.size(), ids.size(), seconds);
  EXPECT_EQ(static_cast<int64_t>(ids.size()), corpus["count"].get<int64_t>());
  EXPECT_EQ(Checksum(ids), corpus["checksum"].get<std::string>());
  EXPECT_EQ(tok.Decode(ids), text);
}

// Random text from a pool of ASCII, accented, CJK and emoji characters, whitespace and digits: every
// tokenizer here is lossless (byte-level or byte fallback), so decoding must give the text back. ("▁" is
// left out: SentencePiece writes spaces as "▁", so a literal one decodes as a space, as in sentencepiece.)
TEST_P(TokenizerReferenceTest, RandomTextRoundTrips) {
  const Tokenizer& tok = TokenizerFor(GetParam());
  const std::vector<std::string> pool = {"a", "Z", "q", " ", "  ", "\t", "\n", "\r\n", "7", "42", "'s", ".", ",", "-",
                                         "\xC3\xA9", "\xC3\x9F", "\xE4\xB8\xAD", "\xE3\x81\x82",
                                         "\xF0\x9F\x98\x80", "<", "|", ">", "\xC2\xA0"};
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    const int length = static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) text += pool[rng() % pool.size()];
    EXPECT_EQ(tok.Decode(tok.Encode(text, false)), text) << "text: \"" << text << "\"";
  }
}

// Invalid UTF-8 never crashes and survives as bytes.
TEST_P(TokenizerReferenceTest, InvalidUtf8SurvivesAsBytes) {
  const Tokenizer& tok = TokenizerFor(GetParam());
  for (const std::string& text : {std::string("\x80\xBF abc"), std::string("ab\xE4\xB8"), std::string("\x80 x \xC3"),
                                 std::string("\xE4z\xB8\xAD", 4), std::string("\0nul", 4)}) {
    const std::vector<int32_t> ids = tok.Encode(text, false);
    EXPECT_FALSE(ids.empty());
    for (const int32_t id : ids) EXPECT_TRUE(id >= 0 && id < tok.vocab_size());
    EXPECT_EQ(tok.Decode(ids), text);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, TokenizerReferenceTest,
                         ::testing::Values("stories260k", "stories260k_hf", "stories260k_gguf", "smollm2", "gpt2", "llama3", "qwen2"),
                         [](const auto& info) { return info.param; });

TEST(TokenizerBosTest, FollowsEachModelsConvention) {
  const Tokenizer& stories = TokenizerFor("stories260k");
  EXPECT_TRUE(stories.add_bos_by_default());
  EXPECT_EQ(stories.bos_id(), 1);
  EXPECT_EQ(stories.eos_id(), 2);
  EXPECT_EQ(stories.vocab_size(), 512);
  const std::vector<int32_t> with_bos = stories.Encode("Hello", true);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos.front(), 1);
  EXPECT_EQ(stories.Decode(with_bos), "Hello");  // control pieces have no surface text

  const Tokenizer& smol = TokenizerFor("smollm2");
  EXPECT_FALSE(smol.add_bos_by_default());
  EXPECT_EQ(smol.vocab_size(), 49152);
  EXPECT_EQ(smol.bos_id(), 1);
  EXPECT_EQ(smol.eos_id(), 2);
}

}  // namespace
}  // namespace llmc
