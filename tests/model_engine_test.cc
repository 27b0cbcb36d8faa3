// The engine's contracts beyond matching transformers: stores (dense and quantized), the calibration
// hooks, weight replacement, thread-count determinism, sampling, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "llmc/import.h"
#include "llmc/kernels.h"
#include "llmc/model.h"
#include "llmc/quant.h"
#include "llmc/store.h"
#include "test_util.h"

namespace llmc {
namespace {

const std::vector<int32_t> kTokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};

ImportedModel ImportStories() {
  auto imported = ImportModel(testing::Stories260KDir());
  EXPECT_TRUE(imported.ok()) << imported.status().ToString();
  return imported.ok() ? std::move(imported).value() : ImportedModel{};
}

// Writes the imported model as a store; 2-D weights other than the embedding are quantized when
// `quant` is given, and the tensor named `skip` is left out.
Status WriteStore(const ImportedModel& m, const std::string& path, const QuantSpec* quant = nullptr,
                  const std::string& skip = "") {
  StoreMetadata meta;
  meta.config = m.config;
  meta.tokenizer = m.tokenizer;
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<StoreWriter> writer, StoreWriter::Open(path, meta));
  for (const TensorSource& source : m.tensors) {
    if (source.name == skip) continue;
    LLMC_ASSIGN_OR_RETURN(WeightTensor t, source.load());
    if (quant != nullptr && t.shape.size() == 2 && t.name != "model.embed_tokens.weight") {
      LLMC_ASSIGN_OR_RETURN(t, QuantizeRtn(t, *quant));
    }
    LLMC_RETURN_IF_ERROR(writer->Write(t));
  }
  return writer->Close();
}

std::vector<float> Logits(Model& model, const std::vector<int32_t>& tokens, KvCacheType kv = KvCacheType::kF32) {
  auto seq = model.NewSequence(static_cast<int64_t>(tokens.size()), kv);
  std::vector<float> logits(tokens.size() * static_cast<size_t>(model.config().vocab_size));
  const Status st = model.Forward(*seq, tokens, logits.data(), nullptr);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return logits;
}

double RelativeMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0;
  double scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

TEST(ModelStoreTest, DenseStoreRunsLikeTheCheckpoint) {
  const ImportedModel imported = ImportStories();
  testing::ScratchDir dir;
  ASSERT_TRUE(WriteStore(imported, dir.File("m.parquet")).ok());
  auto from_store = Model::Open(dir.File("m.parquet"));
  ASSERT_TRUE(from_store.ok()) << from_store.status().ToString();
  auto from_checkpoint = Model::FromImported(imported);
  ASSERT_TRUE(from_checkpoint.ok()) << from_checkpoint.status().ToString();
  EXPECT_EQ(Logits(**from_store, kTokens), Logits(**from_checkpoint, kTokens));
  EXPECT_EQ((*from_store)->tokenizer_spec(), imported.tokenizer);
}

// int8 weights run quantized (a third of the dense bytes) and stay close to the dense logits.
TEST(ModelStoreTest, QuantizedStoreStaysQuantizedAndClose) {
  const ImportedModel imported = ImportStories();
  testing::ScratchDir dir;
  const QuantSpec int8{8, 64, QuantGrid::kSigned};
  ASSERT_TRUE(WriteStore(imported, dir.File("q8.parquet"), &int8).ok());
  auto quantized = Model::Open(dir.File("q8.parquet"));
  ASSERT_TRUE(quantized.ok()) << quantized.status().ToString();
  auto dense = Model::FromImported(imported);
  ASSERT_TRUE(dense.ok());
  EXPECT_TRUE((*quantized)->Weight("model.layers.0.mlp.down_proj.weight").quantized());
  EXPECT_LT((*quantized)->weight_bytes(), (*dense)->weight_bytes() / 2);
  EXPECT_LT(RelativeMaxDiff(Logits(**quantized, kTokens), Logits(**dense, kTokens)), 2e-2);
}

// Logits of each token of `tokens` fed one at a time (the decode path), concatenated.
std::vector<float> DecodeLogits(Model& model, const std::vector<int32_t>& tokens, KvCacheType kv = KvCacheType::kF32) {
  auto seq = model.NewSequence(static_cast<int64_t>(tokens.size()), kv);
  const auto vocab = static_cast<size_t>(model.config().vocab_size);
  std::vector<float> logits(tokens.size() * vocab);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Status st = model.Forward(*seq, std::vector<int32_t>{tokens[i]}, logits.data() + i * vocab, nullptr);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  return logits;
}

// A 3- or 8-bit store runs in the kernels' form (PrepareForMatMul: 4-bit codes where the byte-dot
// GEMV applies, tile order where the AVX-512 VNNI GEMV does; the loader writes tiles straight into
// the model's memory) with the stored values: prefill, which decodes weights to floats, gives the
// same logits as the stored codes (kept in row order when the portable target is forced while
// loading), and decode stays within the int8 activations' rounding of them.
TEST(ModelStoreTest, StoredWeightsRunInTheKernelsFormWithTheStoredValues) {
  const ImportedModel imported = ImportStories();
  for (const QuantSpec& spec : {QuantSpec{3, 32, QuantGrid::kSymmetricHalf}, {8, 32, QuantGrid::kSigned}}) {
    SCOPED_TRACE(std::to_string(spec.bits) + " bits");
    testing::ScratchDir dir;
    ASSERT_TRUE(WriteStore(imported, dir.File("q.parquet"), &spec).ok());
    hwy::SetSupportedTargetsForTest(HWY_SCALAR);
    auto stored = Model::Open(dir.File("q.parquet"));
    hwy::SetSupportedTargetsForTest(0);
    auto prepared = Model::Open(dir.File("q.parquet"));
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    for (const char* name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.gate_proj.weight",
                             "model.layers.0.mlp.down_proj.weight"}) {
      const WeightTensor& s = (*stored)->Weight(name);
      const WeightTensor& p = (*prepared)->Weight(name);
      EXPECT_EQ(spec.bits, s.quant.bits) << name;
      EXPECT_EQ(CodeOrder::kRows, s.order) << name;
      EXPECT_EQ(PrepareForMatMul(s).quant.bits, p.quant.bits) << name;
      EXPECT_EQ(PrepareForMatMul(s).order, p.order) << name;
      EXPECT_EQ(DequantizeToFloat(s), DequantizeToFloat(p)) << name;
    }
    EXPECT_EQ(Logits(**prepared, kTokens), Logits(**stored, kTokens));
    EXPECT_LT(RelativeMaxDiff(DecodeLogits(**prepared, kTokens), DecodeLogits(**stored, kTokens)), 1e-3);
  }
}

TEST(ModelStoreTest, MissingTensorIsNotFoundAndNamed) {
  const ImportedModel imported = ImportStories();
  testing::ScratchDir dir;
  const std::string missing = "model.layers.3.mlp.up_proj.weight";
  ASSERT_TRUE(WriteStore(imported, dir.File("m.parquet"), nullptr, missing).ok());
  auto model = Model::Open(dir.File("m.parquet"));
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find(missing), std::string::npos) << model.status().ToString();
  EXPECT_NE(model.status().message().find("m.parquet"), std::string::npos) << model.status().ToString();
}

TEST(ModelErrorsTest, WrongShapeAndDuplicateTensorsAreRejected) {
  const ImportedModel imported = ImportStories();
  std::vector<WeightTensor> tensors;
  for (const TensorSource& s : imported.tensors) tensors.push_back(*s.load());
  auto bad = tensors;
  for (WeightTensor& t : bad) {
    if (t.name == "model.layers.1.self_attn.k_proj.weight") std::swap(t.shape[0], t.shape[1]);
  }
  auto model = Model::FromTensors(imported.config, imported.tokenizer, bad);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("model.layers.1.self_attn.k_proj.weight"), std::string::npos);
  EXPECT_NE(model.status().message().find("[64, 32]"), std::string::npos) << model.status().ToString();

  tensors.push_back(tensors.front());
  auto twice = Model::FromTensors(imported.config, imported.tokenizer, tensors);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("given twice"), std::string::npos);
}

TEST(ModelErrorsTest, UnknownArchitectureIsUnsupported) {
  testing::ScratchDir dir;
  nlohmann::json config = nlohmann::json::parse(testing::ReadFile(testing::FixturesDir() + "/hf_tiny/qwen2_bias/config.json"));
  config["model_type"] = "gpt_neox";
  config["architectures"] = {"GPTNeoXForCausalLM"};
  testing::WriteFile(dir.File("config.json"), config.dump());
  testing::WriteFile(dir.File("model.safetensors"),
                     testing::ReadFile(testing::FixturesDir() + "/hf_tiny/qwen2_bias/model.safetensors"));
  auto imported = ImportModel(dir.path());
  ASSERT_FALSE(imported.ok());
  EXPECT_EQ(imported.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(imported.status().message().find("gpt_neox"), std::string::npos) << imported.status().ToString();

  auto parsed = ModelConfig::FromJson({{"architecture", "falcon"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), StatusCode::kUnsupported);
}

TEST(ModelErrorsTest, ForwardRejectsBadTokensCapacityAndLayers) {
  auto model = Model::FromImported(ImportStories());
  ASSERT_TRUE(model.ok());
  Model& m = **model;
  auto seq = m.NewSequence(4, KvCacheType::kF32);
  std::vector<float> logits(8 * 512);
  const std::vector<int32_t> out_of_vocab = {1, 512};
  Status st = m.Forward(*seq, out_of_vocab, logits.data(), nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("token id 512"), std::string::npos) << st.ToString();
  EXPECT_EQ(seq->length(), 0);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  st = m.Forward(*seq, five, logits.data(), nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("capacity 4"), std::string::npos) << st.ToString();
  std::vector<float> hidden(64);
  EXPECT_EQ(m.ForwardLayer(5, hidden.data(), 1).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(m.Weight("no.such.weight").shape.empty());
}

// The GPTQ contract: every linear observed once per forward, in LinearWeightNames order, with the
// shared input handed out as the same pointer; the LM head last.
TEST(ModelCalibrationTest, ObserverSeesEveryLinearInputInOrder) {
  auto model = Model::FromImported(ImportStories());
  ASSERT_TRUE(model.ok());
  Model& m = **model;
  struct Call {
    std::string name;
    const float* x;
    int64_t n;
    int64_t cols;
  };
  std::vector<Call> calls;
  m.SetLinearInputObserver([&](const std::string& name, const float* x, int64_t n, int64_t cols) {
    calls.push_back({name, x, n, cols});
  });
  Logits(m, kTokens);
  std::vector<std::string> expected;
  for (int64_t l = 0; l < m.config().num_layers; ++l) {
    for (const std::string& name : m.LinearWeightNames(l)) expected.push_back(name);
  }
  expected.push_back("model.embed_tokens.weight");  // tied LM head
  ASSERT_EQ(calls.size(), expected.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].name, expected[i]);
    EXPECT_EQ(calls[i].n, static_cast<int64_t>(kTokens.size()));
    EXPECT_EQ(calls[i].cols, m.Weight(calls[i].name).cols());
  }
  EXPECT_EQ(expected[0], "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(expected[6], "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(calls[0].x, calls[1].x);  // q, k, v
  EXPECT_EQ(calls[1].x, calls[2].x);
  EXPECT_EQ(calls[4].x, calls[5].x);  // gate, up
  EXPECT_NE(calls[3].x, calls[0].x);
}

TEST(ModelCalibrationTest, ReplaceWeightChangesTheForwardPass) {
  auto model = Model::FromImported(ImportStories());
  ASSERT_TRUE(model.ok());
  Model& m = **model;
  const std::vector<float> before = Logits(m, kTokens);
  const std::string name = "model.layers.2.mlp.down_proj.weight";
  auto q4 = QuantizeRtn(m.Weight(name), QuantSpec{4, 32, QuantGrid::kAsymmetric});
  ASSERT_TRUE(q4.ok());
  ASSERT_TRUE(m.ReplaceWeight(*q4).ok());
  EXPECT_TRUE(m.Weight(name).quantized());
  const std::vector<float> after = Logits(m, kTokens);
  const double change = RelativeMaxDiff(after, before);
  EXPECT_GT(change, 1e-5);
  EXPECT_LT(change, 0.2);

  WeightTensor wrong = *q4;
  wrong.name = "model.layers.2.mlp.up_proj.weight";  // [172, 64], not [64, 172]
  EXPECT_EQ(m.ReplaceWeight(wrong).code(), StatusCode::kInvalidArgument);
  wrong.name = "model.layers.9.mlp.up_proj.weight";
  EXPECT_EQ(m.ReplaceWeight(wrong).code(), StatusCode::kNotFound);
}

// Embedded hidden states of a few sequences of different lengths.
std::vector<std::vector<float>> EmbeddedSequences(const Model& m) {
  const std::vector<std::vector<int32_t>> sequences = {kTokens, {1, 300, 301}, {1, 42, 43, 44, 45, 46, 47}};
  std::vector<std::vector<float>> hidden;
  for (const auto& tokens : sequences) {
    hidden.emplace_back(tokens.size() * m.config().hidden_size);
    m.Embed(tokens, hidden.back().data());
  }
  return hidden;
}

// True-sequential calibration: the hook sees the stages in order, after every sequence's input to
// the stage was observed, and weights it swaps in are the ones the stage then runs.
TEST(ModelCalibrationTest, StagedLayerQuantizesStageByStage) {
  auto reference = Model::FromImported(ImportStories());
  auto staged = Model::FromImported(ImportStories());
  ASSERT_TRUE(reference.ok() && staged.ok());
  const int64_t layer = 1;
  const QuantSpec int4{4, 32, QuantGrid::kAsymmetric};
  std::vector<std::string> events;
  (*staged)->SetLinearInputObserver([&](const std::string& name, const float*, int64_t, int64_t) {
    events.push_back("observe " + name);
  });
  std::vector<std::vector<float>> hidden = EmbeddedSequences(**staged);
  const Status st = (*staged)->ForwardLayerStaged(layer, hidden, [&](std::span<const std::string> names) -> Status {
    for (const std::string& name : names) {
      events.push_back("stage " + name);
      LLMC_ASSIGN_OR_RETURN(WeightTensor q, QuantizeRtn((*staged)->Weight(name), int4));
      LLMC_RETURN_IF_ERROR((*staged)->ReplaceWeight(std::move(q)));
    }
    return Status::OK();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();

  // Per stage: three sequences observed for each of its weights, then the stage's hook.
  const std::vector<std::string> names = (*staged)->LinearWeightNames(layer);
  const std::vector<std::vector<std::string>> stages = {
      {names[0], names[1], names[2]}, {names[3]}, {names[4], names[5]}, {names[6]}};
  std::vector<std::string> expected;
  for (const auto& stage : stages) {
    for (int s = 0; s < 3; ++s) {
      for (const std::string& n : stage) expected.push_back("observe " + n);
    }
    for (const std::string& n : stage) expected.push_back("stage " + n);
  }
  EXPECT_EQ(events, expected);

  // The same layer run with all seven weights quantized up front gives the same hidden states.
  for (const std::string& name : names) {
    auto q = QuantizeRtn((*reference)->Weight(name), int4);
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE((*reference)->ReplaceWeight(*q).ok());
  }
  std::vector<std::vector<float>> want = EmbeddedSequences(**reference);
  for (auto& h : want) {
    ASSERT_TRUE((*reference)->ForwardLayer(layer, h.data(), static_cast<int64_t>(h.size()) / (*reference)->config().hidden_size).ok());
  }
  EXPECT_EQ(hidden, want);
}

TEST(ModelCalibrationTest, StagedLayerStopsAtTheHooksError) {
  auto model = Model::FromImported(ImportStories());
  ASSERT_TRUE(model.ok());
  std::vector<std::vector<float>> hidden = EmbeddedSequences(**model);
  const std::vector<std::vector<float>> before = hidden;
  int calls = 0;
  const Status st = (*model)->ForwardLayerStaged(0, hidden, [&](std::span<const std::string>) {
    ++calls;
    return Status::Invalid("stop here");
  });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(hidden, before);  // the residual stream is only written after the attention stage
  EXPECT_EQ((*model)->ForwardLayerStaged(7, hidden, nullptr).code(), StatusCode::kInvalidArgument);
}

// Prefill and token-by-token decode. With 9 threads, more than stories260K's 8 (KV head, half)
// decode-attention items, each KV head's two query heads go in separate runs.
TEST(ModelThreadsTest, LogitsIdenticalForEveryThreadCount) {
  auto model = Model::FromImported(ImportStories());
  ASSERT_TRUE(model.ok());
  for (const KvCacheType kv : {KvCacheType::kF32, KvCacheType::kF16}) {
    SetNumThreads(1);
    const std::vector<float> prefill = Logits(**model, kTokens, kv);
    const std::vector<float> decode = DecodeLogits(**model, kTokens, kv);
    for (int threads : {2, 9}) {
      SetNumThreads(threads);
      EXPECT_EQ(prefill, Logits(**model, kTokens, kv)) << threads << " threads";
      EXPECT_EQ(decode, DecodeLogits(**model, kTokens, kv)) << threads << " threads";
    }
    SetNumThreads(0);
  }
}

TEST(SamplerTest, GreedyAndTopOneAlwaysPickTheFirstMaximum) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f};
  Sampler greedy(SamplingOptions{});
  EXPECT_EQ(greedy.Sample(logits), 1);
  Sampler top1(SamplingOptions{5.0, 1, 42});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(top1.Sample(logits), 1);
}

TEST(SamplerTest, SamplesFollowTheSoftmaxAndRepeatWithTheSeed) {
  // p = 3/4, 1/4 on tokens 0 and 1 at temperature 1; top-k 2 removes token 2.
  const std::vector<float> logits = {std::log(3.0f), 0.0f, -0.5f};
  Sampler sampler(SamplingOptions{1.0, 2, 7});
  Sampler again(SamplingOptions{1.0, 2, 7});
  std::map<int32_t, int> counts;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    const int32_t id = sampler.Sample(logits);
    EXPECT_EQ(id, again.Sample(logits));
    ++counts[id];
  }
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_NEAR(counts[0] / static_cast<double>(draws), 0.75, 0.03);
}

}  // namespace
}  // namespace llmc
