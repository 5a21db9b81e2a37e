#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace poolwatch {

/// Collects config problems as `file:line:col: key.path: message`.
class ConfigProblems {
 public:
  explicit ConfigProblems(std::string file) : file_(std::move(file)) {}
  void Add(const YAML::Mark& mark, const std::string& path, const std::string& message);
  void AddNoMark(const std::string& path, const std::string& message);
  const std::vector<std::string>& List() const { return problems_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

/// Reads one YAML mapping through `const YAML::Node&` only (yaml-cpp's non-const operator[]
/// inserts keys). Every getter records its key as known; Finish() reports the unknown ones, so a
/// typo is an error and never silently a default. Getters leave `out` untouched when the key is
/// absent and report a problem when it has the wrong type.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, ConfigProblems& problems);

  bool Valid() const { return valid_; }
  bool Has(const std::string& key) const;
  std::string PathOf(const std::string& key) const;
  const YAML::Mark& Mark() const { return mark_; }
  /// The value node of `key` (an undefined node if absent); marks the key known.
  YAML::Node Child(const std::string& key);
  /// Marks `key` known (so Finish() does not report it) and says whether it is set: present and
  /// not null. An absent or empty section (`pool:`, `pool: ~`) keeps its defaults.
  bool Claim(const std::string& key);
  /// The mapping under `key` when it is set (see Claim); a value that is not a mapping is
  /// reported by the returned reader, which is then not Valid().
  std::optional<MapReader> Section(const std::string& key);
  /// The mapping this reader reads.
  const YAML::Node& Node() const { return node_; }
  YAML::Mark MarkOf(const std::string& key) const;

  void String(const std::string& key, std::string& out, bool required = false);
  void Bool(const std::string& key, bool& out);
  void Int(const std::string& key, int& out, int min, int max);
  void Double(const std::string& key, double& out, double min, double max);
  void Dur(const std::string& key, std::chrono::milliseconds& out, bool allow_zero = false);
  void StringList(const std::string& key, std::vector<std::string>& out);
  /// Reports keys no getter asked for.
  void Finish();

  ConfigProblems& problems() { return problems_; }

 private:
  std::optional<std::string> Scalar(const std::string& key, const char* what);

  YAML::Node node_;
  std::string path_;
  ConfigProblems& problems_;
  YAML::Mark mark_;
  bool valid_ = false;
  std::set<std::string> known_;
};

/// Reports every mapping key that appears twice in the same mapping (anywhere under `root`), with
/// both positions: yaml-cpp keeps one of them silently, so a second `interval:` would win or lose
/// by accident.
void CheckDuplicateKeys(const YAML::Node& root, ConfigProblems& problems);

/// Why `name` cannot be a target name ("" when it can): 1-128 bytes of letters, digits and
/// `_ - . : @ /`. It becomes a label value, a log field and a column of the --once table, so a
/// newline or a control character from `${ENV}` must not forge a log line or break the table.
std::string TargetNameProblem(const std::string& name);

/// Expands ${NAME} from the environment (`$$` is a literal `$`). Returns false and sets `error`
/// when a variable is unset.
bool ExpandEnv(const std::string& in, std::string& out, std::string& error);

}  // namespace poolwatch
