#include "base/redact.h"

#include <algorithm>
#include <cctype>

namespace poolwatch {
namespace {

constexpr std::string_view kMask = "******";

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// password = value | password='quoted \' value' | password=value (key/value conninfo), and
// password=value inside a URI query (terminated by & or whitespace or quote).
std::string RedactPasswordKeys(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  constexpr std::string_view kKey = "password";
  while (i < in.size()) {
    bool boundary = i == 0 || !(std::isalnum(static_cast<unsigned char>(in[i - 1])) ||
                                in[i - 1] == '_');
    if (boundary && i + kKey.size() <= in.size() && IEquals(in.substr(i, kKey.size()), kKey)) {
      std::size_t j = i + kKey.size();
      while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j;
      if (j < in.size() && in[j] == '=') {
        ++j;
        while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j;
        out.append(in.substr(i, j - i));
        out.append(kMask);
        if (j < in.size() && (in[j] == '\'' || in[j] == '"')) {
          char q = in[j++];
          while (j < in.size() && in[j] != q) {
            if (in[j] == '\\' && j + 1 < in.size()) ++j;
            ++j;
          }
          if (j < in.size()) ++j;
        } else {
          while (j < in.size() && !std::isspace(static_cast<unsigned char>(in[j])) &&
                 in[j] != '&' && in[j] != '\'' && in[j] != '"' && in[j] != ',' && in[j] != ';') {
            ++j;
          }
        }
        i = j;
        continue;
      }
    }
    out.push_back(in[i++]);
  }
  return out;
}

// scheme://user:secret@host -> scheme://user:******@host
std::string RedactUriUserinfo(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    std::size_t sep = in.find("://", i);
    if (sep == std::string_view::npos) break;
    std::size_t start = sep + 3;
    std::size_t end = start;
    // Like libpq, the userinfo runs up to '@' or '/': an unencoded '?' or '#' belongs to the
    // password (found by fuzzing: "postgres://app:W#1224@db" leaked "W").
    while (end < in.size() && !std::isspace(static_cast<unsigned char>(in[end])) &&
           in[end] != '/' && in[end] != '"' && in[end] != '\'') {
      ++end;
    }
    std::string_view authority = in.substr(start, end - start);
    std::size_t at = authority.rfind('@');
    out.append(in.substr(i, start - i));
    if (at != std::string_view::npos) {
      std::string_view userinfo = authority.substr(0, at);
      std::size_t colon = userinfo.find(':');
      if (colon != std::string_view::npos) {
        out.append(userinfo.substr(0, colon + 1));
        out.append(kMask);
        out.append(authority.substr(at));
      } else {
        out.append(authority);
      }
    } else {
      out.append(authority);
    }
    i = end;
  }
  out.append(in.substr(i));
  return out;
}

std::string RedactSlackHooks(std::string_view in) {
  std::string out(in);
  constexpr std::string_view kHook = "/services/";
  std::size_t pos = 0;
  while ((pos = out.find(kHook, pos)) != std::string::npos) {
    std::size_t start = pos + kHook.size();
    std::size_t end = start;
    while (end < out.size() && !std::isspace(static_cast<unsigned char>(out[end])) &&
           out[end] != '"' && out[end] != '\'') {
      ++end;
    }
    out.replace(start, end - start, kMask);
    pos = start + kMask.size();
  }
  return out;
}

}  // namespace

std::string Redact(std::string_view text) {
  return RedactSlackHooks(RedactUriUserinfo(RedactPasswordKeys(text)));
}

std::string RedactSecrets(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out = Redact(text);
  // Longest first: a short piece masked first would leave the tail of a longer secret behind.
  std::vector<std::string> sorted(secrets);
  std::stable_sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
  for (const auto& s : sorted) {
    if (s.size() < 3) continue;  // too short to scrub without mangling ordinary words
    std::size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), kMask);
      pos += kMask.size();
    }
  }
  return out;
}

namespace {

std::string PercentDecode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() &&
        std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

void AddWithPieces(std::string_view value, std::vector<std::string>& out) {
  if (value.empty()) return;
  for (const std::string& v : {std::string(value), PercentDecode(value)}) {
    out.push_back(v);
    std::string piece;
    for (char c : v + " ") {
      if (std::string_view("@/:?&#, \t'\"=%").find(c) != std::string_view::npos) {
        if (!piece.empty()) out.push_back(piece);
        piece.clear();
      } else {
        piece.push_back(c);
      }
    }
  }
}

// Where the next `word=` (a conninfo keyword) starts at or after `from`, or npos.
std::size_t NextKeyword(std::string_view s, std::size_t from) {
  for (std::size_t i = from; i < s.size(); ++i) {
    if (s[i] != ' ' && s[i] != '\t') continue;
    std::size_t j = i;
    while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
    std::size_t k = j;
    while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
    while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
    if (k > j && k < s.size() && s[k] == '=') return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::vector<std::string> DsnSecretCandidates(std::string_view dsn) {
  std::vector<std::string> out;
  constexpr std::string_view kKey = "password";
  // password=VALUE, in key/value form and in a URI query.
  for (std::size_t i = 0; i + kKey.size() <= dsn.size(); ++i) {
    if (!IEquals(dsn.substr(i, kKey.size()), kKey)) continue;
    std::size_t j = i + kKey.size();
    while (j < dsn.size() && (dsn[j] == ' ' || dsn[j] == '\t')) ++j;
    if (j >= dsn.size() || dsn[j] != '=') continue;
    ++j;
    while (j < dsn.size() && (dsn[j] == ' ' || dsn[j] == '\t')) ++j;
    std::size_t end = NextKeyword(dsn, j);
    std::size_t amp = dsn.find('&', j);
    if (dsn.find("://") != std::string_view::npos && amp != std::string_view::npos &&
        (end == std::string_view::npos || amp < end)) {
      end = amp;
    }
    std::string_view v = dsn.substr(j, end == std::string_view::npos ? std::string_view::npos
                                                                      : end - j);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"')) {
      v.remove_prefix(1);
      if (!v.empty() && (v.back() == '\'' || v.back() == '"')) v.remove_suffix(1);
    }
    AddWithPieces(v, out);
  }
  // scheme://user:PASSWORD@host...: up to the last '@' of the string.
  std::size_t scheme = dsn.find("://");
  if (scheme != std::string_view::npos) {
    std::size_t start = scheme + 3;
    std::size_t at = dsn.rfind('@');
    if (at != std::string_view::npos && at > start) {
      std::string_view userinfo = dsn.substr(start, at - start);
      std::size_t colon = userinfo.find(':');
      if (colon != std::string_view::npos) AddWithPieces(userinfo.substr(colon + 1), out);
    }
  }
  return out;
}

std::string LibpqErrorRedact(std::string_view text, std::string_view dsn,
                             const std::vector<std::string>& secrets) {
  std::vector<std::string> all = DsnSecretCandidates(dsn);
  all.insert(all.end(), secrets.begin(), secrets.end());
  std::vector<std::string> whole;  // the full values, for the quoted-fragment test
  for (const auto& s : all) {
    if (!s.empty()) whole.push_back(s);
  }
  // libpq quotes what it could not parse ("...token: \"Pa%zzSec\"", host name "x"): a quoted
  // fragment that is part of a password is masked whatever its length.
  std::string quoted_done;
  quoted_done.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '"') {
      quoted_done.push_back(text[i++]);
      continue;
    }
    std::size_t close = text.find('"', i + 1);
    if (close == std::string_view::npos) {
      quoted_done.append(text.substr(i));
      break;
    }
    std::string_view q = text.substr(i + 1, close - i - 1);
    bool secret = false;
    for (const auto& w : whole) {
      if (!q.empty() && (w.find(q) != std::string::npos ||
                         (w.size() >= 3 && q.find(w) != std::string_view::npos))) {
        secret = true;
        break;
      }
      // libpq splits an unencoded '@', '/' or ':' in a password as URI syntax and quotes what
      // follows it ("ss@host" of "u:p@ss@host"): a fragment that starts with the rest of a
      // secret after such a character is that secret's tail, however short.
      for (std::size_t k = w.find_first_of("@/:"); k != std::string::npos && !secret;
           k = w.find_first_of("@/:", k + 1)) {
        std::string_view tail = std::string_view(w).substr(k + 1);
        secret = !tail.empty() && q.substr(0, tail.size()) == tail;
      }
      if (secret) break;
    }
    quoted_done.push_back('"');
    quoted_done.append(secret ? kMask : q);
    quoted_done.push_back('"');
    i = close + 1;
  }
  return RedactSecrets(quoted_done, all);
}

}  // namespace poolwatch
