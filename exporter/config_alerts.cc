// Parsing of the `alerts:` section: rules, receivers, route and delivery (see README "Alerting").
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include "alerts/alert_config.h"
#include "alerts/rules.h"
#include "base/files.h"
#include "exporter/config_reader.h"
#include "exporter/config_sections.h"

namespace poolwatch {

namespace {

/// Rules whose thresholds are durations ("60s") rather than plain numbers.
bool DurationRule(const std::string& key) {
  return key == "long_transaction" || key == "clients_waiting" || key == "sampler_stale";
}

void Threshold(MapReader& r, const std::string& key, bool duration, std::optional<double>& out) {
  if (!r.Claim(key)) return;
  if (duration) {
    std::chrono::milliseconds d{-1};
    r.Dur(key, d, true);
    if (d.count() >= 0) out = static_cast<double>(d.count()) / 1000.0;
  } else {
    double v = -1;
    r.Double(key, v, 0, 1e12);
    if (v >= 0) out = v;
  }
}

void StringMap(MapReader& r, const std::string& key, std::map<std::string, std::string>& out) {
  auto m = r.Section(key);
  if (!m || !m->Valid()) return;
  const YAML::Node& n = m->Node();
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = it->first.Scalar();
    std::string v;
    m->String(k, v);
    if (k == "alertname" || k == "severity") {
      r.problems().Add(it->first.Mark(), m->PathOf(k),
                       "is set by the rule and cannot be overridden");
      continue;
    }
    out[k] = v;
  }
  m->Finish();
}

void ParseRule(const YAML::Node& node, const std::string& path, const std::string& key,
               ConfigProblems& problems, RuleConfig& rule) {
  MapReader r(node, path, problems);
  if (!r.Valid()) return;
  const bool dur = DurationRule(key);
  r.Bool("enabled", rule.enabled);
  if (key == "error_rate" || key == "connection_leak") {
    Threshold(r, "threshold", false, rule.warning);
    Threshold(r, "critical", false, rule.critical);
  } else if (key == "sampler_stale") {
    Threshold(r, "after", true, rule.critical);
  } else if (key != "target_down") {
    Threshold(r, "warning", dur, rule.warning);
    Threshold(r, "critical", dur, rule.critical);
  }
  r.Dur("for", rule.for_duration, true);
  if (r.Has("for") && !r.Has("critical_for")) rule.critical_for.reset();
  if (r.Claim("critical_for")) {
    std::chrono::milliseconds d{0};
    r.Dur("critical_for", d, true);
    rule.critical_for = d;
  }
  r.Dur("keep_firing_for", rule.keep_firing_for, true);
  r.Double("hysteresis", rule.hysteresis, 0, 0.5);
  if (key == "error_rate") {
    // The ratio's window is the target's (one source): the rule used to keep a second copy that
    // only the alert message read, so the message could name a window the ratio never used.
    for (const char* moved : {"window", "min_events"}) {
      if (!r.Has(moved)) continue;
      r.Child(moved);
      problems.Add(r.MarkOf(moved), r.PathOf(moved),
                   std::string("is a target setting now: set targets[].error_") + moved +
                       " (the error ratio is computed over the target's window)");
    }
  }
  StringMap(r, "labels", rule.labels);
  r.String("runbook_url", rule.runbook_url);
  r.StringList("exclude_databases", rule.exclude_databases);
  r.StringList("exclude_applications", rule.exclude_applications);
  if (rule.warning && rule.critical && *rule.critical < *rule.warning) {
    problems.Add(r.MarkOf("critical"), r.PathOf("critical"), "must not be below warning");
  }
  if (r.Claim("overrides")) {
    YAML::Node list = r.Child("overrides");
    if (!list.IsSequence()) {
      problems.Add(list.Mark(), r.PathOf("overrides"), "must be a list");
    } else {
      for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node& item = list[i];
        MapReader o(item, r.PathOf("overrides") + "[" + std::to_string(i) + "]", problems);
        if (!o.Valid()) continue;
        RuleOverride ov;
        o.String("target", ov.target);
        o.String("database", ov.database);
        o.String("user", ov.user);
        if (o.Claim("enabled")) {
          bool b = true;
          o.Bool("enabled", b);
          ov.enabled = b;
        }
        if (key == "error_rate" || key == "connection_leak") {
          Threshold(o, "threshold", false, ov.warning);
          Threshold(o, "critical", false, ov.critical);
        } else {
          Threshold(o, "warning", dur, ov.warning);
          Threshold(o, "critical", dur, ov.critical);
        }
        if (o.Claim("for")) {
          std::chrono::milliseconds d{0};
          o.Dur("for", d, true);
          ov.for_duration = d;
        }
        o.Finish();
        rule.overrides.push_back(std::move(ov));
      }
    }
  }
  r.Finish();
}

bool ReadSecret(const std::string& path, std::string& out, std::string& error) {
  if (!ReadRegularFile(path, kMaxSecretFileBytes, out, error)) return false;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
    out.pop_back();
  }
  return true;
}

void ParseReceiver(const YAML::Node& node, const std::string& path, ConfigProblems& problems,
                   ReceiverConfig& rc) {
  MapReader r(node, path, problems);
  if (!r.Valid()) return;
  r.String("name", rc.name, true);
  int kinds = 0;
  for (const char* kind : {"slack", "alertmanager", "log"}) {
    if (!r.Has(kind)) {
      if (r.Child(kind).IsDefined() && std::string(kind) == "log") ++kinds;  // `log: {}`/`log:`
      continue;
    }
    ++kinds;
    MapReader k(r.Child(kind), r.PathOf(kind), problems);
    if (!k.Valid()) continue;
    std::string kname = kind;
    k.Bool("send_resolved", rc.send_resolved);
    k.Dur("timeout", rc.timeout);
    if (kname == "slack") {
      rc.type = ReceiverType::kSlack;
      std::string file;
      k.String("webhook_url", rc.webhook_url);
      k.String("webhook_url_file", file);
      if (!file.empty() && !rc.webhook_url.empty()) {
        problems.Add(k.MarkOf("webhook_url_file"), k.PathOf("webhook_url_file"),
                     "set webhook_url or webhook_url_file, not both");
      } else if (!file.empty()) {
        std::string err;
        rc.webhook_url_file = file;
        if (!ReadSecret(file, rc.webhook_url, err)) {
          problems.Add(k.MarkOf("webhook_url_file"), k.PathOf("webhook_url_file"), err);
        } else if (rc.webhook_url.empty()) {
          problems.Add(k.MarkOf("webhook_url_file"), k.PathOf("webhook_url_file"),
                       "the file is empty");
        }
      } else if (rc.webhook_url.empty()) {
        problems.Add(k.Mark(), k.PathOf("webhook_url_file"),
                     "is required (or webhook_url, e.g. \"${SLACK_WEBHOOK_URL}\")");
      }
      if (!rc.webhook_url.empty() && rc.webhook_url.rfind("http://", 0) != 0 &&
          rc.webhook_url.rfind("https://", 0) != 0) {
        // Never echo the value: it is a secret.
        problems.Add(k.Mark(), k.PathOf("webhook_url"), "must be an http(s) URL");
      }
    } else if (kname == "alertmanager") {
      rc.type = ReceiverType::kAlertmanager;
      k.StringList("urls", rc.urls);
      if (rc.urls.empty()) problems.Add(k.Mark(), k.PathOf("urls"), "needs at least one URL");
    } else {
      rc.type = ReceiverType::kLog;
    }
    k.Finish();
  }
  if (kinds != 1) {
    problems.Add(r.Mark(), path, "needs exactly one of slack, alertmanager or log");
  }
  r.Finish();
}

// The steps of ParseAlerts, one per section of `alerts:`.

void ParseRules(MapReader& r, ConfigProblems& problems, AlertsConfig& out) {
  if (auto rules = r.Section("rules")) {
    if (rules->Valid()) {
      const YAML::Node& rn = rules->Node();
      for (auto it = rn.begin(); it != rn.end(); ++it) {
        std::string key = it->first.Scalar();
        auto rule = out.rules.find(key);
        if (rule == out.rules.end()) {
          problems.Add(it->first.Mark(), rules->PathOf(key),
                       "unknown rule (known: clients_waiting, connection_leak, error_rate, "
                       "long_transaction, pool_utilization, sampler_stale, target_down)");
          rules->Child(key);
          continue;
        }
        ParseRule(rules->Child(key), rules->PathOf(key), key, problems, rule->second);
      }
    }
  }
}

/// Returns the receivers' names, for the route's references.
std::set<std::string> ParseReceivers(MapReader& r, ConfigProblems& problems, AlertsConfig& out) {
  std::set<std::string> names;
  if (r.Claim("receivers")) {
    YAML::Node list = r.Child("receivers");
    if (!list.IsSequence()) {
      problems.Add(list.Mark(), "alerts.receivers", "must be a list");
    } else {
      for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node& item = list[i];
        std::string p = "alerts.receivers[" + std::to_string(i) + "]";
        ReceiverConfig rc;
        ParseReceiver(item, p, problems, rc);
        if (!rc.name.empty() && !names.insert(rc.name).second) {
          problems.Add(item.Mark(), p + ".name", "duplicate receiver name \"" + rc.name + "\"");
        }
        out.receivers.push_back(std::move(rc));
      }
    }
  }
  return names;
}

void ParseIncidents(MapReader& r, AlertsConfig& out) {
  if (auto in = r.Section("incidents")) {
    if (in->Valid()) {
      in->Bool("enabled", out.incidents.enabled);
      in->Dur("resolve_after", out.incidents.resolve_after, true);
      in->Bool("escalation_updates", out.incidents.escalation_updates);
      in->Finish();
    }
  }
}

void ParseRoute(MapReader& r, const std::set<std::string>& names, ConfigProblems& problems,
                AlertsConfig& out) {
  if (auto rt = r.Section("route")) {
    rt->StringList("receivers", out.route.receivers);
    if (auto bs = rt->Section("by_severity"); bs && bs->Valid()) {
      const YAML::Node& bn = bs->Node();
      for (auto it = bn.begin(); it != bn.end(); ++it) {
        std::string sev = it->first.Scalar();
        if (sev != "warning" && sev != "critical") {
          problems.Add(it->first.Mark(), bs->PathOf(sev), "severity must be warning or critical");
          bs->Child(sev);
          continue;
        }
        bs->StringList(sev, out.route.by_severity[sev]);
      }
    }
    rt->StringList("group_by", out.route.group_by);
    rt->Dur("group_wait", out.route.group_wait, true);
    rt->Dur("group_interval", out.route.group_interval);
    rt->Dur("repeat_interval", out.route.repeat_interval);
    auto check = [&](const std::string& path, const YAML::Mark& mark,
                     const std::vector<std::string>& list) {
      for (const auto& n : list) {
        if (!names.count(n)) problems.Add(mark, path, "unknown receiver \"" + n + "\"");
      }
    };
    check("alerts.route.receivers", rt->MarkOf("receivers"), out.route.receivers);
    for (const auto& [sev, list] : out.route.by_severity) {
      check("alerts.route.by_severity." + sev, rt->MarkOf("by_severity"), list);
    }
    rt->Finish();
  }
  if (out.route.receivers.empty()) {
    for (const auto& rc : out.receivers) out.route.receivers.push_back(rc.name);
  }
}

void ParseDelivery(MapReader& r, AlertsConfig& out) {
  if (auto d = r.Section("delivery")) {
    d->Double("rate_limit_per_second", out.delivery.rate_limit_per_second, 0.01, 100);
    int qs = static_cast<int>(out.delivery.queue_size);
    d->Int("queue_size", qs, 1, 100000);
    out.delivery.queue_size = static_cast<std::size_t>(qs);
    d->Dur("retry_initial", out.delivery.retry_initial);
    d->Dur("retry_max", out.delivery.retry_max);
    d->Dur("retry_deadline", out.delivery.retry_deadline);
    d->Dur("alertmanager_resend", out.delivery.alertmanager_resend);
    d->Dur("alertmanager_resolved_resend_for", out.delivery.alertmanager_resolved_resend_for);
    d->Finish();
  }
}

}  // namespace

void ParseAlerts(const YAML::Node& node, ConfigProblems& problems, AlertsConfig& out) {
  MapReader r(node, "alerts", problems);
  out.enabled = true;
  if (!r.Valid()) return;  // `alerts:` alone: defaults, no receivers
  r.String("state_file", out.state_file);
  if (!out.state_file.empty()) {
    // Checked here so --check-config and a reload refuse what the alerter could not load: a
    // FIFO would hang it, a device or a huge file would eat memory. A missing file is a first
    // start. One that cannot be reached at all (ENOTDIR, EACCES) is reported at run time by the
    // alerter, which keeps alerting without it.
    std::string content, err;
    struct stat st {};
    if (::stat(out.state_file.c_str(), &st) == 0 &&
        ReadBoundedFile(out.state_file, kMaxStateFileBytes, content, err) ==
            FileReadStatus::kError) {
      problems.Add(r.MarkOf("state_file"), r.PathOf("state_file"), err);
    }
  }
  r.Dur("shutdown_grace", out.shutdown_grace, true);
  r.String("dashboard_url", out.dashboard_url);
  ParseRules(r, problems, out);
  const std::set<std::string> names = ParseReceivers(r, problems, out);
  ParseIncidents(r, out);
  ParseRoute(r, names, problems, out);
  ParseDelivery(r, out);
  r.Finish();
}

}  // namespace poolwatch
