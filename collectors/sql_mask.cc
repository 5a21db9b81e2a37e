#include "collectors/sql_mask.h"

#include <cctype>

namespace poolwatch {
namespace {

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Index just past a quoted string starting at `i` (the quote); `backslash` for E'' strings.
std::size_t SkipQuoted(std::string_view q, std::size_t i, bool backslash) {
  ++i;
  while (i < q.size()) {
    if (backslash && q[i] == '\\') {
      i += 2;
      continue;
    }
    if (q[i] == '\'') {
      if (i + 1 < q.size() && q[i + 1] == '\'') {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return q.size();
}

// When a dollar quote ($$ or $tag$) starts at `i`, its length; else 0.
std::size_t DollarTag(std::string_view q, std::size_t i) {
  if (q[i] != '$') return 0;
  std::size_t j = i + 1;
  if (j < q.size() && std::isdigit(static_cast<unsigned char>(q[j]))) return 0;  // $1
  while (j < q.size() && (std::isalnum(static_cast<unsigned char>(q[j])) || q[j] == '_')) ++j;
  if (j < q.size() && q[j] == '$') return j - i + 1;
  return 0;
}

std::string Mask(std::string_view q) {
  std::string out;
  out.reserve(q.size());
  std::size_t i = 0;
  while (i < q.size()) {
    char c = q[i];
    bool after_ident = !out.empty() && IsIdentChar(out.back());
    if (c == '\'') {
      i = SkipQuoted(q, i, false);
      out += '?';
    } else if ((c == 'E' || c == 'e') && i + 1 < q.size() && q[i + 1] == '\'' && !after_ident) {
      i = SkipQuoted(q, i + 1, true);
      out += '?';
    } else if (c == '"') {
      std::size_t j = q.find('"', i + 1);
      j = j == std::string_view::npos ? q.size() : j + 1;
      out.append(q.substr(i, j - i));
      i = j;
    } else if (std::size_t tag = after_ident ? 0 : DollarTag(q, i); tag > 0) {
      std::size_t end = q.find(q.substr(i, tag), i + tag);
      i = end == std::string_view::npos ? q.size() : end + tag;
      out += '?';
    } else if (c == '-' && i + 1 < q.size() && q[i + 1] == '-') {
      std::size_t j = q.find('\n', i);
      j = j == std::string_view::npos ? q.size() : j;
      out.append(q.substr(i, j - i));
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) && !after_ident) {
      while (i < q.size() &&
             (std::isalnum(static_cast<unsigned char>(q[i])) || q[i] == '.' || q[i] == '_')) {
        // An exponent sign belongs to the number (1e-5).
        if ((q[i] == 'e' || q[i] == 'E') && i + 1 < q.size() &&
            (q[i + 1] == '-' || q[i + 1] == '+')) {
          ++i;
        }
        ++i;
      }
      out += '?';
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace

std::string SanitizeQuery(std::string_view query, int max_chars, bool mask_literals) {
  std::string masked = mask_literals ? Mask(query) : std::string(query);
  std::string spaced;
  spaced.reserve(masked.size());
  for (char c : masked) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
    if (space) {
      if (!spaced.empty() && spaced.back() != ' ') spaced += ' ';
    } else {
      spaced += c;
    }
  }
  while (!spaced.empty() && spaced.back() == ' ') spaced.pop_back();
  if (max_chars < 0) max_chars = 0;
  // Count UTF-8 characters (bytes that do not start with 10xxxxxx).
  auto char_starts = [&](std::size_t limit_chars) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < spaced.size(); ++i) {
      if ((static_cast<unsigned char>(spaced[i]) & 0xC0) != 0x80) {
        if (n == limit_chars) return i;
        ++n;
      }
    }
    return spaced.size();
  };
  if (char_starts(static_cast<std::size_t>(max_chars)) == spaced.size()) return spaced;
  if (max_chars <= 3) return spaced.substr(0, char_starts(static_cast<std::size_t>(max_chars)));
  return spaced.substr(0, char_starts(static_cast<std::size_t>(max_chars - 3))) + "...";
}


}  // namespace poolwatch
