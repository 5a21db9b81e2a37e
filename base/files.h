#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

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

/// A secret kept in a file that may be replaced while poolwatch runs (`password_file`,
/// `webhook_url_file`). Kubernetes updates a mounted Secret in place: it writes the new contents
/// into a fresh directory and atomically swaps the `..data` symlink the file names go through.
/// Get() stats the path (following symlinks: one stat(2), no read) and re-reads the file through
/// ReadBoundedFile only when its identity (device, inode), size or modification time changed.
/// New contents that cannot be used (unreadable, not a regular file, too big, empty after
/// trimming, or refused by `check`) keep the previous value; each such change is reported once.
/// Thread-safe.
class SecretFile {
 public:
  /// Returns "" when `value` is usable, else why not (never quoting the value: it is a secret).
  using Check = std::function<std::string(const std::string& value)>;
  enum class Event { kSame, kReloaded, kRejected };
  struct Result {
    std::string value;
    Event event = Event::kSame;
    std::string error;  // kRejected: why (names the path, never the contents)
  };

  /// `initial`: the value read when the configuration was loaded (kept if the file is bad now).
  /// `trim`: characters stripped from the end (a trailing newline from `echo` or `kubectl`).
  SecretFile(std::string path, std::string initial, std::string_view trim, Check check = nullptr);
  SecretFile(const SecretFile&) = delete;
  SecretFile& operator=(const SecretFile&) = delete;

  /// The current value, re-read first if the file changed.
  Result Get();
  const std::string& path() const { return path_; }
  double reloads() const;
  double errors() const;

 private:
  struct Identity {
    unsigned long long dev = 0, ino = 0;
    long long size = -1, mtime_ns = 0;
    bool operator==(const Identity& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  /// The file's identity, or a marker for "cannot stat" with `why` set.
  Identity Stat(std::string& why) const;

  const std::string path_;
  const std::string trim_;
  const Check check_;
  mutable std::mutex mutex_;
  std::string value_;
  Identity seen_;
  std::string seen_error_;  // the stat error last reported, so a missing file reports once
  double reloads_ = 0;
  double errors_ = 0;
};

}  // namespace poolwatch
