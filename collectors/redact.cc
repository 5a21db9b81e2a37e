#include "redact.h"

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
  for (const auto& s : secrets) {
    if (s.size() < 3) continue;  // too short to scrub without mangling ordinary words
    std::size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), kMask);
      pos += kMask.size();
    }
  }
  return out;
}

}  // namespace poolwatch
