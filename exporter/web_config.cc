#include "exporter/web_config.h"

#include <crypt.h>
#include <string.h>
#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "base/files.h"
#include "exporter/config_reader.h"

namespace poolwatch {
namespace {

// A valid bcrypt hash of a random string nobody knows: unknown users are checked against it so
// that a wrong user name costs as much time as a wrong password.
constexpr char kDummyHash[] = "$2b$10$.4YslQb3hFzzDk5Q6Zk9he19fg5MEFVmDLSPnQNmh6sKDMZ7Oi7oa";

bool IsBcrypt(const std::string& h) {
  return h.size() == 60 && h[0] == '$' && h[1] == '2' &&
         (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$';
}

// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool BcryptMatches(const char* password, const std::string& hash) {
  // crypt_data is ~32 KB: keep it off the (small) HTTP worker stacks.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(password, hash.c_str(), data.get(), sizeof(crypt_data));
  bool ok = out != nullptr && out[0] != '*' && ConstantTimeEquals(out, hash);
  explicit_bzero(data.get(), sizeof(crypt_data));  // it held the password's key schedule
  return ok;
}

void Parse(const YAML::Node& root, ConfigProblems& problems, WebConfig& out) {
  MapReader top(root, "", problems);
  if (!top.Valid()) return;
  if (!top.Has("tls_server_config")) top.Child("tls_server_config");
  if (top.Has("tls_server_config")) {
    const YAML::Node& tls_node = top.Child("tls_server_config");
    MapReader tls(tls_node, "tls_server_config", problems);
    if (tls.Valid()) {
      tls.String("cert_file", out.cert_file, true);
      tls.String("key_file", out.key_file, true);
      tls.Finish();
      for (const auto* f : {&out.cert_file, &out.key_file}) {
        if (f->empty()) continue;
        // The same bounded reader the server loads them with: a FIFO, /dev/zero or a huge file
        // is an error here (and at --check-config), not a hang or an abort at start.
        std::string pem, err;
        if (!ReadRegularFile(*f, kMaxPemFileBytes, pem, err)) {
          problems.Add(tls.Mark(),
                       tls.PathOf(f == &out.cert_file ? "cert_file" : "key_file"), err);
        }
        std::fill(pem.begin(), pem.end(), '\0');
      }
    }
  }
  if (!top.Has("basic_auth_users")) top.Child("basic_auth_users");
  if (top.Has("basic_auth_users")) {
    const YAML::Node& users = top.Child("basic_auth_users");
    {
      if (!users.IsMap()) {
        problems.Add(users.Mark(), "basic_auth_users", "must be a mapping of user: bcrypt hash");
      } else {
        for (const auto& kv : users) {
          const YAML::Node& k = kv.first;
          const YAML::Node& v = kv.second;
          std::string name = k.IsScalar() ? k.Scalar() : "";
          std::string path = "basic_auth_users." + name;
          if (name.empty() || name.find(':') != std::string::npos) {
            problems.Add(k.Mark(), path, "user name must be non-empty and contain no ':'");
            continue;
          }
          if (!v.IsScalar() || !IsBcrypt(v.Scalar())) {
            // Never echo the value: it may be a plain-text password pasted by mistake.
            problems.Add(v.Mark(), path, "must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 chars)");
            continue;
          }
          out.users[name] = v.Scalar();
        }
      }
    }
  }
  top.Finish();
}

}  // namespace

bool LoadWebConfigString(const std::string& yaml, const std::string& source, WebConfig& out,
                         std::vector<std::string>& problems_out) {
  ConfigProblems problems(source);
  WebConfig cfg;
  try {
    YAML::Node root = YAML::Load(yaml);
    CheckDuplicateKeys(root, problems);
    Parse(root, problems, cfg);
  } catch (const YAML::Exception& e) {
    problems.Add(e.mark, "(syntax)", e.msg);
  }
  problems_out = problems.List();
  if (!problems_out.empty()) return false;
  out = std::move(cfg);
  return true;
}

bool LoadWebConfigFile(const std::string& path, WebConfig& out,
                       std::vector<std::string>& problems) {
  std::string text, error;
  if (!ReadRegularFile(path, kMaxConfigFileBytes, text, error)) {
    problems = {error + " (web config file)"};
    return false;
  }
  return LoadWebConfigString(text, path, out, problems);
}

bool Base64Decode(std::string_view in, std::string& out) {
  out.clear();
  unsigned int acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    } else if (ch == '=') {
      ++pad;
      continue;
    } else {
      return false;
    }
    if (pad > 0) return false;  // data after padding
    acc = ((acc << 6) | static_cast<unsigned int>(v)) & 0xFFFFFFu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFFu));
    }
  }
  return pad <= 2;
}

namespace {

std::uint64_t Rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

void SipRound(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
  v0 += v1;
  v1 = Rotl(v1, 13);
  v1 ^= v0;
  v0 = Rotl(v0, 32);
  v2 += v3;
  v3 = Rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = Rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = Rotl(v1, 17);
  v1 ^= v2;
  v2 = Rotl(v2, 32);
}

// Wipes a buffer that held a password (explicit_bzero is not optimised away).
void Wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

}  // namespace

std::uint64_t SipHash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) {
  std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
  std::uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
  std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
  std::uint64_t v3 = 0x7465646279746573ULL ^ k1;
  const std::size_t n = data.size();
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t m = 0;
    for (int b = 7; b >= 0; --b) m = (m << 8) | p[i + static_cast<std::size_t>(b)];
    v3 ^= m;
    SipRound(v0, v1, v2, v3);
    SipRound(v0, v1, v2, v3);
    v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(n & 0xFF) << 56;
  for (std::size_t b = 0; i + b < n; ++b) last |= static_cast<std::uint64_t>(p[i + b]) << (8 * b);
  v3 ^= last;
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xFF;
  for (int r = 0; r < 4; ++r) SipRound(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

BasicAuthCache::BasicAuthCache(std::size_t capacity) : capacity_(capacity) {
  std::size_t got = 0;
  auto* out = reinterpret_cast<unsigned char*>(key_.data());
  while (got < sizeof(key_)) {
    ssize_t n = ::getrandom(out + got, sizeof(key_) - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < sizeof(key_)) {
    // No getrandom (a very old kernel): std::random_device, mixed with the time.
    std::random_device rd;
    for (auto& k : key_) {
      k = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
          static_cast<std::uint64_t>(
              std::chrono::steady_clock::now().time_since_epoch().count());
    }
  }
  entries_.reserve(capacity_);
}

BasicAuthCache& BasicAuthCache::Global() {
  static BasicAuthCache* cache = new BasicAuthCache();  // never destroyed: workers may outlive main
  return *cache;
}

BasicAuthCache::Tag BasicAuthCache::TagOf(std::string_view password) const {
  return {SipHash24(key_[0], key_[1], password), SipHash24(key_[2], key_[3], password)};
}

bool BasicAuthCache::Lookup(const std::string& user, const std::string& hash, const Tag& tag) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* found = nullptr;
  for (auto& e : entries_) {
    // Every entry, every byte: no early exit reveals which entry (or how much of it) matched.
    std::uint64_t diff = (e.tag[0] ^ tag[0]) | (e.tag[1] ^ tag[1]);
    // Bitwise, not &&: all three comparisons run whatever the first one says.
    unsigned same = static_cast<unsigned>(ConstantTimeEquals(e.user, user)) &
                    static_cast<unsigned>(ConstantTimeEquals(e.hash, hash)) &
                    static_cast<unsigned>(diff == 0);
    if (same != 0U) found = &e;
  }
  if (found != nullptr) found->last_used = ++clock_;
  return found != nullptr;
}

void BasicAuthCache::Insert(const std::string& user, const std::string& hash, const Tag& tag) {
  if (capacity_ == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* slot = nullptr;
  for (auto& e : entries_) {
    if (e.tag == tag && e.user == user && e.hash == hash) slot = &e;  // raced: already in
  }
  if (slot == nullptr && entries_.size() < capacity_) slot = &entries_.emplace_back();
  if (slot == nullptr) {
    slot = &*std::min_element(entries_.begin(), entries_.end(),
                              [](const Entry& a, const Entry& b) {
                                return a.last_used < b.last_used;
                              });
  }
  slot->user = user;
  slot->hash = hash;
  slot->tag = tag;
  slot->last_used = ++clock_;
}

std::uint64_t BasicAuthCache::BcryptRuns() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bcrypt_runs_;
}

std::size_t BasicAuthCache::Size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

bool BasicAuthCache::Check(const std::map<std::string, std::string>& users,
                           std::string_view header) {
  constexpr std::string_view kScheme = "Basic ";
  if (header.size() < kScheme.size() || header.size() > 4096) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  std::string_view b64 = header.substr(kScheme.size());
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  std::string decoded;
  if (!Base64Decode(b64, decoded)) {
    Wipe(decoded);
    return false;
  }
  auto colon = decoded.find(':');
  if (colon == std::string::npos) {
    Wipe(decoded);
    return false;
  }
  const std::string user = decoded.substr(0, colon);
  // The password stays in `decoded` (NUL-terminated there), never copied.
  const std::string_view password = std::string_view(decoded).substr(colon + 1);
  if (password.find('\0') != std::string_view::npos) {
    Wipe(decoded);
    return false;
  }
  auto it = users.find(user);
  const bool known = it != users.end();
  static const std::string* const dummy = new std::string(kDummyHash);
  const std::string& hash = known ? it->second : *dummy;
  const Tag tag = TagOf(password);
  bool ok = false;
  if (known && Lookup(user, hash, tag)) {
    ok = true;
  } else {
    std::lock_guard<std::mutex> one_at_a_time(bcrypt_mutex_);
    // Another worker may have verified the same credentials while this one waited (a scraper's
    // first requests arriving together): then one bcrypt served them all.
    if (known && Lookup(user, hash, tag)) {
      ok = true;
    } else {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++bcrypt_runs_;
      }
      ok = BcryptMatches(decoded.c_str() + colon + 1, hash) && known;
      if (ok) Insert(user, hash, tag);
    }
  }
  Wipe(decoded);
  return ok;
}

bool CheckBasicAuth(const std::map<std::string, std::string>& users, std::string_view header) {
  return BasicAuthCache::Global().Check(users, header);
}

}  // namespace poolwatch
