// `llmc quantize --validate --text FILE`: the result is measured against its source; exit 3 on a miss.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "llmc/file.h"
#include "test_util.h"

namespace llmc {
namespace {

std::string QuantizeAndValidate(const testing::ScratchDir& dir, const std::string& bits) {
  return "quantize --input " + testing::Stories260KDir() + " --output " + dir.File("q.parquet") + " --bits " + bits +
         " --validate --text " + testing::SharedDir() + "/data/eval/tinystories-eval.txt --ctx 128 --chunks 4";
}

TEST(CliQuantizeValidateTest, Int8PassesAndReportsTheValidation) {
  testing::ScratchDir dir;
  const auto r = testing::RunLlmc(QuantizeAndValidate(dir, "8") + " --json 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_TRUE(j["validation"]["passed"].get<bool>());
  EXPECT_GT(j["validation"]["logits_cosine"].get<double>(), 0.99);
  EXPECT_EQ(j["validation"]["reference"]["tokens_scored"].get<int64_t>(), 4 * (128 - 1 - 64));
}

TEST(CliQuantizeValidateTest, Int2MissesTheBarsWithExitStatus3ButKeepsTheStore) {
  testing::ScratchDir dir;
  const auto r = testing::RunLlmc(QuantizeAndValidate(dir, "2"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("FAIL"), std::string::npos);
  EXPECT_NE(r.output.find("misses the thresholds"), std::string::npos);
  EXPECT_TRUE(FileExists(dir.File("q.parquet")));  // a valid store; validation only gates the pipeline
}

TEST(CliQuantizeValidateTest, ValidateNeedsText) {
  testing::ScratchDir dir;
  const auto r = testing::RunLlmc("quantize --input " + testing::Stories260KDir() + " --output " +
                                  dir.File("q.parquet") + " --bits 8 --validate");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(FileExists(dir.File("q.parquet")));
}

}  // namespace
}  // namespace llmc
