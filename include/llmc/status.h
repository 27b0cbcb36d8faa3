// Status and Result<T>: how every fallible call in llm_compression reports failure.
// Modelled on Arrow's: bad input is never a crash, it is a Status naming the file, tensor or key,
// what was expected and what was found. The CLI turns a non-OK Status into one line and a non-zero exit.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace llmc {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // a caller or user passed something unusable (flag, config key, shape)
  kIOError,          // the operating system refused (open, read, write, rename)
  kCorrupt,          // a file's content contradicts its own format
  kNotFound,         // a named tensor, key or file is absent
  kUnsupported,      // well-formed input we do not handle (unknown dtype, architecture)
  kFailedCheck,      // a measured result missed its threshold (validate)
  kInternal,         // a bug in llm_compression
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return {}; }
  template <typename... Args>
  static Status Invalid(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...)};
  }
  template <typename... Args>
  static Status IOError(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kIOError, fmt::format(f, std::forward<Args>(args)...)};
  }
  template <typename... Args>
  static Status Corrupt(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kCorrupt, fmt::format(f, std::forward<Args>(args)...)};
  }
  template <typename... Args>
  static Status NotFound(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kNotFound, fmt::format(f, std::forward<Args>(args)...)};
  }
  template <typename... Args>
  static Status Unsupported(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kUnsupported, fmt::format(f, std::forward<Args>(args)...)};
  }
  template <typename... Args>
  static Status FailedCheck(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kFailedCheck, fmt::format(f, std::forward<Args>(args)...)};
  }
  template <typename... Args>
  static Status Internal(fmt::format_string<Args...> f, Args&&... args) {
    return {StatusCode::kInternal, fmt::format(f, std::forward<Args>(args)...)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: model.safetensors: header length 9999 exceeds file size 120"
  std::string ToString() const;
  // Prefixes context ("while loading tensor X") to the message, keeping the code.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit like arrow::Result
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace llmc

#define LLMC_CONCAT_INNER(a, b) a##b
#define LLMC_CONCAT(a, b) LLMC_CONCAT_INNER(a, b)

#define LLMC_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::llmc::Status _llmc_st = (expr);               \
    if (!_llmc_st.ok()) return _llmc_st;            \
  } while (false)

#define LLMC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

// LLMC_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
#define LLMC_ASSIGN_OR_RETURN(lhs, rexpr) \
  LLMC_ASSIGN_OR_RETURN_IMPL(LLMC_CONCAT(_llmc_result_, __LINE__), lhs, rexpr)
