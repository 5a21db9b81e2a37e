#include "web_config.h"

#include <crypt.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
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

bool BcryptMatches(const std::string& password, const std::string& hash) {
  // crypt_data is ~32 KB: keep it off the (small) HTTP worker stacks.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  if (out == nullptr || out[0] == '*') return false;
  return ConstantTimeEquals(out, hash);
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

bool CheckBasicAuth(const std::map<std::string, std::string>& users, std::string_view header) {
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
  if (!Base64Decode(b64, decoded)) return false;
  auto colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  std::string user = decoded.substr(0, colon);
  std::string password = decoded.substr(colon + 1);
  if (password.find('\0') != std::string::npos) return false;
  auto it = users.find(user);
  bool known = it != users.end();
  bool ok = BcryptMatches(password, known ? it->second : kDummyHash);
  return known && ok;
}

}  // namespace poolwatch
