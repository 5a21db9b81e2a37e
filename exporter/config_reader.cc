#include "exporter/config_reader.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include "exporter/config.h"

namespace poolwatch {

void ConfigProblems::Add(const YAML::Mark& mark, const std::string& path,
                         const std::string& message) {
  if (mark.is_null()) return AddNoMark(path, message);
  problems_.push_back(file_ + ":" + std::to_string(mark.line + 1) + ":" +
                      std::to_string(mark.column + 1) + ": " + path + ": " + message);
}

void ConfigProblems::AddNoMark(const std::string& path, const std::string& message) {
  problems_.push_back(file_ + ": " + path + ": " + message);
}

bool ExpandEnv(const std::string& in, std::string& out, std::string& error) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {
      out.push_back('$');
      ++i;
    } else if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
      std::size_t end = in.find('}', i + 2);
      if (end == std::string::npos) {
        error = "unterminated ${ in value";
        return false;
      }
      std::string name = in.substr(i + 2, end - i - 2);
      // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in poolwatch calls setenv
      const char* v = std::getenv(name.c_str());
      if (v == nullptr) {
        error = "environment variable " + name + " is not set";
        return false;
      }
      out += v;
      i = end;
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

MapReader::MapReader(const YAML::Node& node, std::string path, ConfigProblems& problems)
    : node_(node), path_(std::move(path)), problems_(problems) {
  mark_ = node.Mark();
  if (!node.IsDefined() || node.IsNull()) {
    valid_ = false;
    return;
  }
  if (!node.IsMap()) {
    problems_.Add(mark_, path_.empty() ? "(top level)" : path_, "must be a mapping");
    return;
  }
  valid_ = true;
}

std::string MapReader::PathOf(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool MapReader::Has(const std::string& key) const {
  if (!valid_) return false;
  const YAML::Node& n = node_;
  return n[key].IsDefined() && !n[key].IsNull();
}

YAML::Node MapReader::Child(const std::string& key) {
  known_.insert(key);
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& n = node_;
  return n[key];
}

bool MapReader::Claim(const std::string& key) {
  known_.insert(key);
  return Has(key);
}

std::optional<MapReader> MapReader::Section(const std::string& key) {
  if (!Claim(key)) return std::nullopt;
  return MapReader(Child(key), PathOf(key), problems_);
}

YAML::Mark MapReader::MarkOf(const std::string& key) const {
  if (!valid_) return mark_;
  const YAML::Node& n = node_;
  YAML::Node v = n[key];
  return v.IsDefined() ? v.Mark() : mark_;
}

std::optional<std::string> MapReader::Scalar(const std::string& key, const char* what) {
  known_.insert(key);
  if (!Has(key)) return std::nullopt;
  YAML::Node v = Child(key);
  if (!v.IsScalar()) {
    problems_.Add(v.Mark(), PathOf(key), std::string("must be ") + what);
    return std::nullopt;
  }
  std::string expanded, err;
  if (!ExpandEnv(v.Scalar(), expanded, err)) {
    problems_.Add(v.Mark(), PathOf(key), err);
    return std::nullopt;
  }
  return expanded;
}

void MapReader::String(const std::string& key, std::string& out, bool required) {
  if (required && !Has(key)) {
    known_.insert(key);
    problems_.Add(mark_, PathOf(key), "is required");
    return;
  }
  if (auto s = Scalar(key, "a string")) out = *s;
}

void MapReader::Bool(const std::string& key, bool& out) {
  auto s = Scalar(key, "true or false");
  if (!s) return;
  if (*s == "true") {
    out = true;
  } else if (*s == "false") {
    out = false;
  } else {
    problems_.Add(MarkOf(key), PathOf(key), "must be true or false, got \"" + *s + "\"");
  }
}

void MapReader::Int(const std::string& key, int& out, int min, int max) {
  auto s = Scalar(key, "an integer");
  if (!s) return;
  char* end = nullptr;
  long v = std::strtol(s->c_str(), &end, 10);
  if (s->empty() || *end != '\0') {
    problems_.Add(MarkOf(key), PathOf(key), "must be an integer, got \"" + *s + "\"");
  } else if (v < min || v > max) {
    problems_.Add(MarkOf(key), PathOf(key),
                  "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                      ", got " + *s);
  } else {
    out = static_cast<int>(v);
  }
}

void MapReader::Double(const std::string& key, double& out, double min, double max) {
  auto s = Scalar(key, "a number");
  if (!s) return;
  char* end = nullptr;
  double v = std::strtod(s->c_str(), &end);
  if (s->empty() || *end != '\0' || !std::isfinite(v)) {
    problems_.Add(MarkOf(key), PathOf(key), "must be a number, got \"" + *s + "\"");
  } else if (v < min || v > max) {
    problems_.Add(MarkOf(key), PathOf(key), "must be between " + std::to_string(min) + " and " +
                                                std::to_string(max) + ", got " + *s);
  } else {
    out = v;
  }
}

void MapReader::Dur(const std::string& key, std::chrono::milliseconds& out, bool allow_zero) {
  auto s = Scalar(key, "a duration such as 5s or 2m");
  if (!s) return;
  std::chrono::milliseconds d{};
  if (!ParseDuration(*s, d)) {
    problems_.Add(MarkOf(key), PathOf(key),
                  "invalid duration \"" + *s + "\" (use a number with a unit: 500ms, 5s, 2m, 1h)");
  } else if (d.count() == 0 && !allow_zero) {
    problems_.Add(MarkOf(key), PathOf(key), "must be greater than 0");
  } else {
    out = d;
  }
}

void MapReader::StringList(const std::string& key, std::vector<std::string>& out) {
  known_.insert(key);
  if (!Has(key)) return;
  YAML::Node v = Child(key);
  if (!v.IsSequence()) {
    problems_.Add(v.Mark(), PathOf(key), "must be a list of strings");
    return;
  }
  out.clear();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const YAML::Node& item = v[i];
    std::string p = PathOf(key) + "[" + std::to_string(i) + "]";
    if (!item.IsScalar()) {
      problems_.Add(item.Mark(), p, "must be a string");
      continue;
    }
    std::string expanded, err;
    if (!ExpandEnv(item.Scalar(), expanded, err)) {
      problems_.Add(item.Mark(), p, err);
      continue;
    }
    out.push_back(expanded);
  }
}

void MapReader::Finish() {
  if (!valid_) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (known_.count(key) == 0) {
      problems_.Add(it->first.Mark(), PathOf(key), "unknown key");
    }
  }
}

namespace {

std::string Position(const YAML::Mark& m) {
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// `budget` bounds the walk: aliases can make a small document a huge tree.
void CheckDuplicateKeysAt(const YAML::Node& node, const std::string& path,
                          ConfigProblems& problems, int depth, long& budget) {
  if (depth > 64 || --budget < 0 || !node.IsDefined()) return;
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      const YAML::Node& item = node[i];
      CheckDuplicateKeysAt(item, path + "[" + std::to_string(i) + "]", problems, depth + 1,
                           budget);
    }
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, YAML::Mark> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string key = it->first.Scalar();
    std::string kpath = path;
    if (!kpath.empty()) kpath += '.';
    kpath += key;
    auto [prev, fresh] = seen.emplace(key, it->first.Mark());
    if (!fresh) {
      problems.Add(it->first.Mark(), kpath,
                   "duplicate key (first at line " + Position(prev->second) + "); remove one");
    }
    CheckDuplicateKeysAt(it->second, kpath, problems, depth + 1, budget);
  }
}

}  // namespace

void CheckDuplicateKeys(const YAML::Node& root, ConfigProblems& problems) {
  long budget = 200000;
  CheckDuplicateKeysAt(root, "", problems, 0, budget);
}

std::string TargetNameProblem(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 128) return "must be at most 128 bytes";
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '_' || c == '-' || c == '.' || c == ':' || c == '@' ||
          c == '/')) {
      return "may contain only letters, digits and _ - . : @ / (it becomes a label, a log field "
             "and a table column)";
    }
  }
  return "";
}

}  // namespace poolwatch
