#include "base/strings.h"

namespace poolwatch {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "...";

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid (overlongs,
// surrogates and code points above U+10FFFF included).
std::size_t ValidSequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

// Plain printable ASCII that fits: what BoundedUtf8 returns unchanged (the common case).
bool PlainAndFits(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) return false;
  bool plain = true;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    plain = plain && c >= 0x20 && c < 0x7F;
  }
  return plain;
}

}  // namespace

std::string BoundedUtf8(std::string_view text, std::size_t max_bytes, bool replace_controls) {
  if (PlainAndFits(text, max_bytes)) return std::string(text);
  std::string out;
  std::size_t cut = std::string::npos;  // where to cut if the whole does not fit
  const std::size_t budget = max_bytes > kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = ValidSequence(text, i);
    std::string_view piece = n == 0 ? kReplacement : text.substr(i, n);
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool control = (c < 0x20 && c != '\n') || c == 0x7F;
    if (n == 1 && replace_controls && control) piece = kReplacement;
    if (cut == std::string::npos && out.size() + piece.size() > budget) cut = out.size();
    out += piece;
    if (out.size() > max_bytes) {  // it does not fit: cut on the last boundary within budget
      out.resize(cut);
      out += kEllipsis.substr(0, max_bytes - cut < kEllipsis.size() ? max_bytes - cut
                                                                      : kEllipsis.size());
      return out;
    }
    i += n == 0 ? 1 : n;
  }
  return out;
}

void AppendBoundedUtf8(std::string& out, std::string_view text, std::size_t max_bytes,
                       bool replace_controls) {
  if (PlainAndFits(text, max_bytes)) {
    out.append(text);
  } else {
    out += BoundedUtf8(text, max_bytes, replace_controls);
  }
}

std::string Trim(std::string_view s, std::string_view space) {
  std::size_t b = s.find_first_not_of(space);
  if (b == std::string_view::npos) return "";
  std::size_t e = s.find_last_not_of(space);
  return std::string(s.substr(b, e - b + 1));
}

std::string OneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\n' || c == '\t' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace poolwatch
