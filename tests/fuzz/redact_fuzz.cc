// libFuzzer target: DSN redaction. Arbitrary text never crashes Redact/RedactSecrets; a password
// placed in any DSN form (key/value, URI userinfo, URI query) amid fuzzed text never survives;
// a known secret never survives RedactSecrets.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/redact.h"

namespace {

// Keeps fuzzed filler inert: no quotes, '=', '@', '&', '?', '/' or '\\' that could legitimately
// turn the planted password into something that is not a password.
std::string Filler(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || c == ' ' || c == ',' || c == ':' || c == '.' || c == '(' ||
              c == ')' || c == '\n';
    out.push_back(ok ? c : ' ');
  }
  return out;
}

std::string Word(const std::string& s) {
  std::string out;
  for (char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' || c == '#' || c == '-') {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  (void)poolwatch::Redact(in);

  // Split the input into parts: form selector | before | password | after.
  std::string parts[4];
  int k = 0;
  for (char c : in) {
    if (c == '\x1f' && k < 3) {
      ++k;
    } else {
      parts[k].push_back(c);
    }
  }
  std::string secret = Word(parts[2]);
  if (secret.size() >= 3) {
    // A known secret (no '*': the mask itself) never survives RedactSecrets.
    std::string out = poolwatch::RedactSecrets(in, {secret});
    if (out.find(secret) != std::string::npos) std::abort();

    std::string before = Filler(parts[1]);
    std::string after = Filler(parts[3]);
    if (before.find(secret) != std::string::npos || after.find(secret) != std::string::npos) {
      return 0;
    }
    int form = parts[0].empty() ? 0 : static_cast<unsigned char>(parts[0][0]) % 4;
    std::string dsn;
    switch (form) {
      case 0: dsn = "host=db user=app password=" + secret + " dbname=x"; break;
      case 1: dsn = "postgres://app:" + secret + "@db:5432/x"; break;
      case 2: dsn = "postgresql://db/x?user=app&password=" + secret + "&sslmode=disable"; break;
      default: dsn = "host=db password='" + secret + "' user=app"; break;
    }
    std::string text = before + " " + dsn + " " + after;
    if (poolwatch::Redact(text).find(secret) != std::string::npos) std::abort();
  }
  return 0;
}
