#pragma once

#include <cstddef>
#include <string>

namespace poolwatch {

/// Size caps of the files poolwatch reads (README "What is bounded").
inline constexpr std::size_t kMaxConfigFileBytes = std::size_t{1} << 20;      // -c, web config
inline constexpr std::size_t kMaxSecretFileBytes = std::size_t{64} << 10;     // password, URL
inline constexpr std::size_t kMaxPemFileBytes = std::size_t{1} << 20;         // TLS key, cert
inline constexpr std::size_t kMaxStateFileBytes = std::size_t{16} << 20;      // alert state

/// The outcome of ReadBoundedFile.
enum class FileReadStatus {
  kOk,
  kMissing,  // no such file (ENOENT): a state file's first start, an error for everything else
  kError,    // anything else; `error` names the path and the reason
};

/// The one reader for every file poolwatch reads (config, web config, password_file,
/// webhook_url_file, TLS key and certificate, alert state). Never blocks and never reads more
/// than `max_bytes`: the file is opened with O_NONBLOCK (a FIFO opens at once), checked with
/// fstat to be a regular file (a FIFO, a device such as /dev/zero, a directory or a socket is an
/// error), and refused when larger than `max_bytes` (also when it grows while being read).
/// `error` reads "cannot read file PATH: reason" (e.g. "... /run/pw: it is a FIFO, not a regular
/// file"). Thread-safe.
FileReadStatus ReadBoundedFile(const std::string& path, std::size_t max_bytes, std::string& out,
                               std::string& error);

/// ReadBoundedFile where a missing file is an error too. Returns true on success.
bool ReadRegularFile(const std::string& path, std::size_t max_bytes, std::string& out,
                     std::string& error);

/// Replaces `path` with `data` so that a crash leaves either the old or the new content: writes
/// PATH.tmp (mode 0600), fsyncs it, renames it over `path`. On failure `error` names the step
/// and the reason, and the temp file is removed.
bool WriteAtomically(const std::string& path, const std::string& data, std::string& error);

}  // namespace poolwatch
