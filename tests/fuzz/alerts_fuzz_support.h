#pragma once
// Shared by slack_fuzz.cc and alertmanager_fuzz.cc: turns fuzz bytes into a Notification whose
// outside strings (labels, summaries, details, offenders) are hostile, and checks that a rendered
// body is strict UTF-8 and free of the secrets planted in DSN-like strings.
//
// The input is decoded by a tiny reader of our own, not FuzzedDataProvider: the replay binaries
// (fuzz_replay_*) are built with the default compiler, which may not ship
// <fuzzer/FuzzedDataProvider.h>, and a corpus file must mean the same Notification in both.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "alerts/alert.h"

namespace poolwatch::fuzz {

/// Fails the fuzz run (libFuzzer reports the input as a crash) with a short reason.
[[noreturn]] inline void Violation(const char* what, const std::string& body) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\nbody (first 2000 bytes): %.2000s\n", what,
               body.c_str());
  std::abort();
}

/// Reads bytes front to back; past the end every read yields zeros, so any input decodes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool Empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Bit() { return (Byte() & 1) != 0; }
  /// 0..max, from as few bytes as max needs.
  uint64_t Uint(uint64_t max) {
    uint64_t v = 0;
    for (uint64_t m = max; m > 0; m >>= 8) v = (v << 8) | Byte();
    return max == std::numeric_limits<uint64_t>::max() ? v : v % (max + 1);
  }
  std::string Bytes(size_t n) {
    size_t take = pos_ < size_ ? std::min(n, size_ - pos_) : 0;
    std::string s(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

/// The planted secrets. Both contain '#', which literal fuzz bytes never do (Literal() maps it
/// away), so a secret in the output can only come from a planted DSN or webhook URL.
inline constexpr std::string_view kPassword = "Fz#Sec#Pw";
inline constexpr std::string_view kHookSecret = "FzHook#Secret";

/// Configuration values (not outside input): the renderers may link them.
inline constexpr std::string_view kRunbook = "https://runbooks.example/pool?x=1&y=2";
inline constexpr std::string_view kDashboard = "https://grafana.example/d/pw?var-t=a&var-d=b";

inline const char* const kTokens[] = {
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U123|boss>", "<#C123|general>",
    "<!subteam^S123>", "<http://evil.example|click>", "<mailto:a@b|mail>", "&amp;", "&lt;", "&",
    "<", ">", "|", "*bold*", "_it_", "~st~", "`", "```", ":red_circle:", "\n", "\r\n", "\r", "\t",
    "\x1b[31m", "\x7f", "\"", "\\", "\\u0000", "'", "\xff", "\xfe", "\xc3\x28", "\xc0\xaf",
    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\xe2\x80\xa8", "\xef\xbb\xbf", "...and 3 more", "[FIRING:1]", "*Who:*", "RESOLVED",
};
inline constexpr size_t kTokenCount = sizeof(kTokens) / sizeof(kTokens[0]);

/// Secret-bearing strings, each padded with spaces: glued to arbitrary neighbours a DSN can stop
/// being one (`xpassword=` is not a key), and then no redactor could be blamed.
inline std::string SecretToken(uint8_t which) {
  std::string pw(kPassword);
  std::string hook(kHookSecret);
  switch (which % 5) {
    case 0: return " host=db user=app password=" + pw + " dbname=x ";
    case 1: return " postgres://app:" + pw + "@db:5432/x ";
    case 2: return " postgresql://db/x?user=app&password=" + pw + "&sslmode=disable ";
    case 3: return " password='" + pw + "' ";
    default: return " https://hooks.slack.com/services/T000/B000/" + hook + " ";
  }
}

/// Literal fuzz bytes. '#' becomes '_' so literals can never spell a planted secret; when secrets
/// are planted, quotes, '=' and '\\' go too, so a literal cannot re-scope a planted DSN (an
/// unclosed `password='` before it would make the secret a different key's tail).
inline std::string Literal(std::string s, bool secrets) {
  for (char& c : s) {
    if (c == '#') c = '_';
    if (secrets && (c == '\'' || c == '"' || c == '=' || c == '\\')) c = '_';
  }
  return s;
}

/// Builds hostile strings from the reader within a total byte budget (long strings are made by
/// repetition, so a 4 KB input still reaches 100 KB values).
class HostileStrings {
 public:
  HostileStrings(Reader& r, bool secrets) : r_(r), secrets_(secrets) {}

  std::string Next() {
    std::string out;
    int segments = r_.Byte() % 6;
    for (int i = 0; i < segments; ++i) {
      uint8_t kind = r_.Byte() % 8;
      std::string piece;
      if (kind <= 2) {
        piece = Literal(r_.Bytes(r_.Byte() % 64), secrets_);
      } else if (kind <= 5) {
        piece = kTokens[r_.Byte() % kTokenCount];
      } else if (kind == 6) {
        // Repetition: a token or a short literal, up to ~120 KB.
        std::string unit = r_.Bit() ? std::string(kTokens[r_.Byte() % kTokenCount])
                                    : Literal(r_.Bytes(1 + r_.Byte() % 8), secrets_);
        size_t count = 1 + r_.Uint(0xffff) % 16384;
        if (unit.empty()) unit = "x";
        count = std::min(count, (120 * 1024) / unit.size());
        if (count * unit.size() > budget_) count = budget_ / unit.size();
        for (size_t k = 0; k < count; ++k) piece += unit;
      } else {
        piece = secrets_ ? SecretToken(r_.Byte()) : std::string(kTokens[r_.Byte() % kTokenCount]);
      }
      if (piece.size() > budget_) piece.resize(budget_);
      budget_ -= piece.size();
      out += piece;
    }
    return out;
  }

 private:
  Reader& r_;
  bool secrets_;
  size_t budget_ = 600 * 1024;
};

inline double Number(Reader& r) {
  static const double kValues[] = {0,
                                   1,
                                   0.5,
                                   -1,
                                   0.95,
                                   42,
                                   59.9,
                                   3600,
                                   1e9,
                                   1e15,
                                   1e18,
                                   1e300,
                                   -1e300,
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::denorm_min(),
                                   std::numeric_limits<double>::max()};
  uint8_t b = r.Byte();
  if (b < 200) return kValues[b % (sizeof(kValues) / sizeof(kValues[0]))];
  uint64_t bits = r.Uint(std::numeric_limits<uint64_t>::max());
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

inline const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

/// A time within about ±30 years of kNow (the state file and the clock never go further).
inline WallTime Time(Reader& r) {
  auto offset = static_cast<int64_t>(r.Uint(0xffffffff)) - 0x7fffffff;
  offset %= 30LL * 365 * 86400;
  return kNow + std::chrono::seconds(offset);
}

inline std::string Pick(Reader& r, HostileStrings& h, std::initializer_list<const char*> usual) {
  uint8_t b = r.Byte();
  if (b % 4 == 0) return h.Next();
  return *(usual.begin() + (b / 4) % usual.size());
}

/// A notification: several alerts with hostile labels, summaries, details and offenders.
inline Notification MakeNotification(Reader& r, bool& secrets) {
  secrets = r.Bit();
  HostileStrings h(r, secrets);
  Notification n;
  n.test = r.Byte() == 0x7e;
  n.receiver = h.Next();
  n.created = kNow;
  n.dashboard_url = r.Bit() ? std::string(kDashboard) : "";
  n.eval_interval = std::chrono::milliseconds(static_cast<int64_t>(r.Uint(0xffffff)) - 1000);
  static const char* const kKeys[] = {"alertname", "severity", "target", "database",
                                      "user",      "kind",     "team",   "datname"};
  int group_labels = r.Byte() % 4;
  for (int i = 0; i < group_labels; ++i) n.group_labels[kKeys[r.Byte() % 8]] = h.Next();
  uint8_t b = r.Byte();
  size_t alerts = b < 240 ? b % 8 : 8 + b % 64;
  for (size_t i = 0; i < alerts && !r.Empty(); ++i) {
    Alert a;
    a.labels["alertname"] =
        Pick(r, h, {"PoolUtilizationHigh", "LongTransaction", "TargetDown", "ConnectionLeak"});
    a.labels["severity"] = Pick(r, h, {"critical", "warning"});
    int extra = r.Byte() % 5;
    for (int k = 0; k < extra; ++k) a.labels[kKeys[2 + r.Byte() % 6]] = h.Next();
    uint8_t s = r.Byte() % 8;
    a.state = s < 5 ? AlertState::kFiring : s < 7 ? AlertState::kResolved : AlertState::kPending;
    a.summary = h.Next();
    a.value = Number(r);
    a.threshold = Number(r);
    a.unit = Pick(r, h, {"ratio", "seconds", "count", ""});
    a.active_since = Time(r);
    a.starts_at = r.Bit() ? WallTime{} : Time(r);
    a.resolved_at = Time(r);
    a.runbook_url = r.Bit() ? std::string(kRunbook) : "";
    a.detail = h.Next();
    a.held = r.Bit();
    a.inhibited = r.Bit();
    uint8_t ob = r.Byte();
    size_t offenders = ob < 240 ? ob % 4 : ob % 12;
    for (size_t k = 0; k < offenders; ++k) {
      Offender o;
      o.category = Pick(r, h, {"long_transaction", "idle_in_transaction", "blocker", "blocked",
                               "waiting_client"});
      o.pid = static_cast<int>(static_cast<uint32_t>(r.Uint(0xffffffff)));
      o.datname = h.Next();
      o.usename = h.Next();
      o.application_name = h.Next();
      o.client_addr = h.Next();
      o.state = Pick(r, h, {"active", "idle in transaction", ""});
      o.wait_event = h.Next();
      o.xact_age_seconds = Number(r);
      o.state_age_seconds = Number(r);
      int blockers = r.Byte() % 8;
      for (int j = 0; j < blockers; ++j) {
        o.blocked_by.push_back(static_cast<int>(static_cast<uint32_t>(r.Uint(0xffffffff))));
      }
      o.query = h.Next();
      a.offenders.push_back(std::move(o));
    }
    n.alerts.push_back(std::move(a));
  }
  return n;
}

/// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), written here rather
/// than taken from the code under test.
inline bool StrictUtf8(std::string_view s, size_t* code_points = nullptr) {
  size_t i = 0;
  size_t count = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
    ++count;
  }
  if (code_points != nullptr) *code_points = count;
  return true;
}

/// The planted secrets never reach a rendered body, in any part.
inline void CheckNoSecrets(const std::string& body) {
  if (body.find(kPassword) != std::string::npos) Violation("a planted password survived", body);
  if (body.find(kHookSecret) != std::string::npos) {
    Violation("a planted webhook URL survived", body);
  }
}

}  // namespace poolwatch::fuzz
