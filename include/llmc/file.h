// Files: read-only memory maps for inputs, and outputs that appear only when complete.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "llmc/status.h"

namespace llmc {

// A whole file mapped read-only. Importers hand out Bytes views into it (zero copy).
class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

// An output written under a temporary name beside the target and renamed onto it by Commit().
// If Commit() is never reached (error, exception, early return) the temporary file is removed, so a
// failed run never leaves a half-written file at the target path. A killed process may leave the
// temporary (".PID.tmp" suffix) but never a truncated target.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string target);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  const std::string& temp_path() const { return temp_; }
  const std::string& target_path() const { return target_; }
  Status Commit();  // fsync-free rename(temp, target)

 private:
  std::string target_;
  std::string temp_;
  bool committed_ = false;
};

Result<std::string> ReadFileToString(const std::string& path);
// Writes text atomically (temp + rename).
Status WriteFileAtomically(const std::string& path, const std::string& contents);
bool FileExists(const std::string& path);
bool IsDirectory(const std::string& path);
Result<int64_t> FileSize(const std::string& path);

}  // namespace llmc
