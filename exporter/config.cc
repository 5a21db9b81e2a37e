#include "exporter/config.h"

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "base/files.h"
#include "base/time.h"
#include "collectors/pq_connection.h"
#include "exporter/config_reader.h"
#include "exporter/config_sections.h"

namespace poolwatch {

bool ParseDuration(std::string_view text, Duration& out) {
  if (text.empty()) return false;
  long long total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start || i - start > 9) return false;
    long long n = std::stoll(std::string(text.substr(start, i - start)));
    std::size_t ustart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(ustart, i - ustart);
    long long mult;
    if (unit == "ms") {
      mult = 1;
    } else if (unit == "s") {
      mult = 1000;
    } else if (unit == "m") {
      mult = 60'000;
    } else if (unit == "h") {
      mult = 3'600'000;
    } else if (unit == "d") {
      mult = 86'400'000;
    } else {
      return false;
    }
    total_ms += n * mult;
  }
  out = Duration(total_ms);
  return true;
}

std::vector<std::string> Config::Secrets() const {
  std::vector<std::string> out;
  for (const auto& t : targets) {
    if (!t.password.empty()) out.push_back(t.password);
  }
  for (const auto& r : alerts.receivers) {
    if (!r.webhook_url.empty()) out.push_back(r.webhook_url);
  }
  return out;
}

namespace {

bool ReadSecretFile(const std::string& path, std::string& out, std::string& error) {
  // Bounded, regular files only, never blocking (collectors/file_reader.h): a FIFO, /dev/zero,
  // a directory or a huge file by mistake is an error naming the path.
  if (!ReadRegularFile(path, kMaxSecretFileBytes, out, error)) return false;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) {
    error = path + ": the file is empty";
    return false;
  }
  return true;
}

void ParsePool(const YAML::Node& node, const std::string& path, ConfigProblems& problems,
               PoolConfig& pool) {
  MapReader r(node, path, problems);
  if (!r.Valid()) return;
  r.Int("min", pool.min, 0, 64);
  r.Int("max", pool.max, 1, 64);
  r.Dur("connect_timeout", pool.connect_timeout);
  r.Dur("idle_timeout", pool.idle_timeout);
  r.Dur("max_lifetime", pool.max_lifetime);
  r.Dur("leak_timeout", pool.checkout_leak_timeout);
  r.Dur("health_check_interval", pool.health_check_interval);
  if (auto b = r.Section("backoff")) {
    b->Dur("initial", pool.backoff_initial);
    b->Dur("max", pool.backoff_max);
    b->Finish();
    if (pool.backoff_max < pool.backoff_initial) {
      problems.Add(b->MarkOf("max"), b->PathOf("max"), "must not be less than backoff.initial");
    }
  }
  if (pool.min > pool.max) {
    problems.Add(r.MarkOf("min"), r.PathOf("min"),
                 "must not exceed pool.max (" + std::to_string(pool.max) + ")");
  }
  r.Finish();
}

void ParseTarget(const YAML::Node& node, const std::string& path, TargetKind kind,
                 ConfigProblems& problems, TargetConfig& t) {
  MapReader r(node, path, problems);
  if (!r.Valid()) {
    if (node.IsNull()) problems.Add(node.Mark(), path, "must be a mapping");
    return;
  }
  t.kind = kind;
  r.String("name", t.name, true);
  if (r.Has("name")) {
    std::string why = TargetNameProblem(t.name);
    if (!why.empty()) {
      problems.Add(r.MarkOf("name"), r.PathOf("name"), why);
      t.name.clear();  // never shown again (it may hold a forged log line)
    }
  }
  r.String("dsn", t.dsn, true);
  if (!t.dsn.empty()) {
    std::string err = CheckConninfo(t.dsn);
    if (!err.empty()) problems.Add(r.MarkOf("dsn"), r.PathOf("dsn"), err);
  }
  r.String("password", t.password);
  r.String("password_file", t.password_file);
  if (!t.password_file.empty()) {
    if (!t.password.empty()) {
      problems.Add(r.MarkOf("password_file"), r.PathOf("password_file"),
                   "set password or password_file, not both");
    }
    std::string err;
    if (!ReadSecretFile(t.password_file, t.password, err)) {
      problems.Add(r.MarkOf("password_file"), r.PathOf("password_file"), err);
    }
  }
  if (r.Claim("pool")) {
    ParsePool(r.Child("pool"), r.PathOf("pool"), problems, t.pool);
  }
  r.Dur("leak_timeout", t.collector_settings.leak_timeout);
  if (kind == TargetKind::kPostgres) {
    ParsePostgresCollectorSettings(r, problems, t.collector_settings);
    r.Bool("shared", t.shared);
    r.String("election_key", t.election_key);
    if (r.Has("election_key") && !t.shared) {
      problems.Add(r.MarkOf("election_key"), r.PathOf("election_key"),
                   "only applies with shared: true");
    }
    if (t.shared && t.election_key.empty()) t.election_key = t.name;
  }
  if (auto c = r.Section("collectors")) {
    if (c->Valid()) {
      const YAML::Node& cn = c->Node();
      for (auto it = cn.begin(); it != cn.end(); ++it) {
        std::string name = it->first.Scalar();
        bool known = false;
        for (const auto& info : CollectorTable()) {
          known = known || (info.name == name && info.kind == kind);
        }
        if (!known) {
          std::string names;
          for (const auto& info : CollectorTable()) {
            if (info.kind == kind) names += (names.empty() ? "" : ", ") + std::string(info.name);
          }
          problems.Add(it->first.Mark(), c->PathOf(name),
                       "unknown collector for a " + std::string(TargetKindName(kind)) +
                           " target (known: " + names + ")");
          c->Child(name);
          continue;
        }
        bool on = true;
        c->Bool(name, on);
        (on ? t.collectors_enabled : t.collectors_disabled).push_back(name);
      }
    }
  }
  r.Finish();
}

// Label names as Prometheus has them; the alert's own labels cannot be overridden.
void ParseExternalLabels(const YAML::Node& node, ConfigProblems& problems,
                         std::map<std::string, std::string>& out) {
  MapReader r(node, "external_labels", problems);
  if (!r.Valid()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.Scalar();
    std::string path = r.PathOf(key);
    bool ok = !key.empty() && key.size() <= 64 &&
              (std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_');
    for (char c : key) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok || key.rfind("__", 0) == 0) {
      problems.Add(it->first.Mark(), path,
                   "is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, at most 64, no leading __)");
      r.Child(key);
      continue;
    }
    static const std::set<std::string> kReserved = {"alertname", "severity", "target", "kind",
                                                    "database", "user"};
    if (kReserved.count(key)) {
      problems.Add(it->first.Mark(), path, "is an alert's own label and cannot be set here");
      r.Child(key);
      continue;
    }
    std::string value;
    r.String(key, value);
    bool printable = !value.empty() && value.size() <= 128;
    for (char c : value) printable = printable && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    if (!printable) {
      problems.Add(r.MarkOf(key), path,
                   "must be 1-128 bytes without control characters (after ${ENV} expansion)");
      continue;
    }
    out[key] = value;
  }
  r.Finish();
}

bool LoadFromNode(const YAML::Node& root, ConfigProblems& problems, Config& cfg) {
  MapReader top(root, "", problems);
  if (!top.Valid()) {
    if (!root.IsDefined() || root.IsNull()) problems.AddNoMark("(top level)", "config is empty");
    return false;
  }
  if (auto web = top.Section("web")) {
    web->String("listen_address", cfg.listen_address);
    web->Finish();
  }
  if (auto s = top.Section("sampling")) {
    s->Dur("interval", cfg.interval);
    s->Dur("timeout", cfg.timeout);
    s->Dur("fast_interval", cfg.fast_interval, true);
    s->Dur("peak_window", cfg.peak_window);
    s->Finish();
    if (cfg.timeout > cfg.interval) {
      problems.Add(s->MarkOf("timeout"), "sampling.timeout",
                   "must not exceed sampling.interval (" + FormatDuration(cfg.interval) + ")");
    }
    if (!s->Has("peak_window") && cfg.peak_window < cfg.interval) {
      cfg.peak_window = cfg.interval;  // the default follows a long interval
    } else if (cfg.peak_window < cfg.interval) {
      problems.Add(s->MarkOf("peak_window"), "sampling.peak_window",
                   "must be at least sampling.interval (" + FormatDuration(cfg.interval) + ")");
    }
    if (cfg.fast_interval.count() > 0 && cfg.fast_interval >= cfg.interval) {
      problems.Add(s->MarkOf("fast_interval"), "sampling.fast_interval",
                   "must be shorter than sampling.interval");
    }
  }
  if (auto c = top.Section("compatibility")) {
    c->Bool("legacy_pgbouncer_stats_names", cfg.legacy_stats_names);
    c->Finish();
  }
  std::set<std::string> names;
  if (auto tr = top.Section("targets")) {
    for (const char* kind_name : {"postgres", "pgbouncer"}) {
      TargetKind kind = std::string(kind_name) == "postgres" ? TargetKind::kPostgres
                                                             : TargetKind::kPgBouncer;
      if (!tr->Claim(kind_name)) continue;
      YAML::Node list = tr->Child(kind_name);
      std::string lpath = std::string("targets.") + kind_name;
      if (!list.IsSequence()) {
        problems.Add(list.Mark(), lpath, "must be a list of targets");
        continue;
      }
      for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node& item = list[i];
        std::string p = lpath + "[" + std::to_string(i) + "]";
        TargetConfig t;
        ParseTarget(item, p, kind, problems, t);
        if (!t.name.empty() && !names.insert(t.name).second) {
          const YAML::Node& n = item["name"];
          problems.Add(n.Mark(), p + ".name", "duplicate target name \"" + t.name + "\"");
        }
        cfg.targets.push_back(std::move(t));
      }
    }
    tr->Finish();
  }
  if (cfg.targets.empty()) {
    problems.Add(top.Mark(), "targets", "at least one postgres or pgbouncer target is required");
  }
  if (top.Claim("external_labels")) {
    ParseExternalLabels(top.Child("external_labels"), problems, cfg.external_labels);
  }
  if (top.Claim("alerts")) {
    ParseAlerts(top.Child("alerts"), problems, cfg.alerts);
    cfg.alerts.eval_interval = cfg.interval;
  }
  cfg.alerts.external_labels = cfg.external_labels;
  for (const auto& t : cfg.targets) {
    if (t.shared) cfg.alerts.shared_targets.insert(t.name);
  }
  top.Finish();
  return problems.List().empty();
}

}  // namespace

bool LoadConfigString(const std::string& yaml, const std::string& source, Config& out,
                      ConfigError& errors) {
  ConfigProblems problems(source);
  Config cfg;
  cfg.source = source;
  try {
    YAML::Node root = YAML::Load(yaml);
    CheckDuplicateKeys(root, problems);
    LoadFromNode(root, problems, cfg);
  } catch (const YAML::ParserException& e) {
    problems.Add(e.mark, "(syntax)", e.msg);
  } catch (const YAML::Exception& e) {
    problems.Add(e.mark, "(yaml)", e.msg);
  }
  errors.problems = problems.List();
  if (!errors.problems.empty()) return false;
  out = std::move(cfg);
  return true;
}

bool LoadConfigFile(const std::string& path, Config& out, ConfigError& errors) {
  std::string text, error;
  if (!ReadRegularFile(path, kMaxConfigFileBytes, text, error)) {
    errors.problems = {error + " (cannot open config file)"};
    return false;
  }
  return LoadConfigString(text, path, out, errors);
}

}  // namespace poolwatch
