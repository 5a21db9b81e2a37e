#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace poolwatch {

/// The HTTP endpoints' security settings, read from a Prometheus exporter-toolkit style web
/// config file (`--web.config.file`):
///
///   tls_server_config: {cert_file: PATH, key_file: PATH}
///   basic_auth_users: {NAME: BCRYPT_HASH, ...}
///
/// Read once at start (not reloaded by SIGHUP). Immutable afterwards; safe to read from any thread.
struct WebConfig {
  std::string cert_file;  // PEM certificate (chain); TLS is on when set
  std::string key_file;   // PEM private key
  /// User name -> bcrypt hash ($2a$, $2b$ or $2y$). Empty = no authentication.
  std::map<std::string, std::string> users;

  bool tls() const { return !cert_file.empty(); }
  bool auth() const { return !users.empty(); }
};

/// Parses and validates a web config file. Returns false and fills `problems` with every problem
/// (`file:line:col: key.path: message`); unknown keys are errors. Never throws.
bool LoadWebConfigFile(const std::string& path, WebConfig& out, std::vector<std::string>& problems);
bool LoadWebConfigString(const std::string& yaml, const std::string& source, WebConfig& out,
                         std::vector<std::string>& problems);

/// Checks an `Authorization` header value (`Basic base64(user:password)`) against `users`.
/// The bcrypt check runs even for an unknown user (against a dummy hash), and hashes are compared
/// in constant time, so timing does not reveal which user names exist. Thread-safe.
/// Goes through the process-wide BasicAuthCache::Global(): a scraper's repeated requests cost
/// one bcrypt, the first.
bool CheckBasicAuth(const std::map<std::string, std::string>& users, std::string_view header);

/// Credentials already verified by bcrypt, so that an authenticated scrape costs what an open one
/// does (a bcrypt verification is 65-70 ms of CPU at cost 10; Prometheus sends the same
/// credentials every scrape). exporter-toolkit does the same. What it keeps and why it is safe:
/// - an entry is (user, bcrypt hash, 128-bit keyed hash of the password) for a password that
///   *matched* that hash; the password itself is never stored. The key is random per process
///   (getrandom), so an entry is useless outside it. A wrong password is never cached: it is
///   verified by bcrypt every time and answered 401.
/// - keyed by the bcrypt hash too, so an entry cannot outlive a changed hash;
/// - bounded (`capacity` entries, least recently used evicted);
/// - a lookup compares every entry in constant time (no early exit);
/// - bcrypt runs one at a time (a mutex), so clients guessing passwords, however many, burn at most
///   one core; a cached client never waits for that mutex.
/// Thread-safe.
class BasicAuthCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 64;
  explicit BasicAuthCache(std::size_t capacity = kDefaultCapacity);
  BasicAuthCache(const BasicAuthCache&) = delete;
  BasicAuthCache& operator=(const BasicAuthCache&) = delete;

  /// The same contract as CheckBasicAuth().
  bool Check(const std::map<std::string, std::string>& users, std::string_view header);
  /// How many bcrypt verifications ran (cache misses, wrong passwords, unknown users).
  std::uint64_t BcryptRuns() const;
  /// Entries held (verified credentials).
  std::size_t Size() const;

  /// The instance CheckBasicAuth() uses.
  static BasicAuthCache& Global();

 private:
  using Tag = std::array<std::uint64_t, 2>;
  struct Entry {
    std::string user;
    std::string hash;
    Tag tag{};
    std::uint64_t last_used = 0;
  };
  Tag TagOf(std::string_view password) const;
  bool Lookup(const std::string& user, const std::string& hash, const Tag& tag);
  void Insert(const std::string& user, const std::string& hash, const Tag& tag);

  const std::size_t capacity_;
  std::array<std::uint64_t, 4> key_{};  // two SipHash-2-4 keys: a 128-bit tag
  mutable std::mutex mutex_;            // guards entries_, clock_, bcrypt_runs_
  std::vector<Entry> entries_;
  std::uint64_t clock_ = 0;
  std::uint64_t bcrypt_runs_ = 0;
  std::mutex bcrypt_mutex_;  // one bcrypt at a time
};

/// SipHash-2-4 (Aumasson and Bernstein), the 64-bit output, of `data` under the 128-bit key
/// (k0, k1) read as two little-endian words. Exposed for its test vectors.
std::uint64_t SipHash24(std::uint64_t k0, std::uint64_t k1, std::string_view data);

/// Decodes standard base64 (with or without padding). Returns false on any invalid character.
bool Base64Decode(std::string_view in, std::string& out);

}  // namespace poolwatch
