// The PostgreSQL collector settings of a `targets.postgres[i]` entry.
#include <algorithm>

#include "exporter/config.h"
#include "exporter/config_reader.h"
#include "exporter/config_sections.h"

namespace poolwatch {

namespace {

void ParseLongTransactions(MapReader& r, ConfigProblems& problems, LongTransactionOptions& lt) {
  r.Dur("threshold", lt.threshold);
  if (r.Claim("thresholds")) {
    const YAML::Node& list = r.Child("thresholds");
    if (!list.IsSequence() || list.size() == 0) {
      problems.Add(list.Mark(), r.PathOf("thresholds"), "must be a non-empty list of durations");
    } else {
      lt.thresholds.clear();
      for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node& item = list[i];
        std::string p = r.PathOf("thresholds") + "[" + std::to_string(i) + "]";
        Duration d{};
        if (!item.IsScalar() || !ParseDuration(item.Scalar(), d) || d.count() == 0) {
          problems.Add(item.Mark(), p, "must be a duration greater than 0, such as 60s or 5m");
          continue;
        }
        if (std::find(lt.thresholds.begin(), lt.thresholds.end(), d) != lt.thresholds.end()) {
          problems.Add(item.Mark(), p, "duplicate threshold");
          continue;
        }
        lt.thresholds.push_back(d);
      }
      std::sort(lt.thresholds.begin(), lt.thresholds.end());
    }
  }
  r.StringList("exclude_application_names", lt.exclude_application_names);
  r.StringList("exclude_backend_types", lt.exclude_backend_types);
}

void ParseBreakdown(MapReader& r, ConfigProblems& problems, ActivityBreakdownOptions& b) {
  r.StringList("by", b.by);
  for (std::size_t i = 0; i < b.by.size(); ++i) {
    if (b.by[i] != "usename" && b.by[i] != "application_name") {
      problems.Add(r.MarkOf("by"), r.PathOf("by") + "[" + std::to_string(i) + "]",
                   "unknown column \"" + b.by[i] + "\" (known: usename, application_name)");
    }
  }
  std::sort(b.by.begin(), b.by.end());
  b.by.erase(std::unique(b.by.begin(), b.by.end()), b.by.end());
  r.StringList("allow", b.allow);
  r.Int("max_series", b.max_series, 1, 10000);
}

}  // namespace

void ParsePostgresCollectorSettings(MapReader& target, ConfigProblems& problems,
                                    CollectorSettings& out) {
  target.Dur("error_window", out.error_window.window);
  target.Int("error_min_events", out.error_window.min_events, 0, 1'000'000'000);
  struct Section {
    const char* key;
    void (*parse)(MapReader&, ConfigProblems&, CollectorSettings&);
  };
  const Section sections[] = {
      {"long_transactions",
       [](MapReader& r, ConfigProblems& p, CollectorSettings& o) {
         ParseLongTransactions(r, p, o.long_transactions);
       }},
      {"offenders",
       [](MapReader& r, ConfigProblems&, CollectorSettings& o) {
         r.Int("top", o.offenders.top, 0, 100);
         r.Int("query_length", o.offenders.query_length, 10, 100'000);
         r.Bool("mask_literals", o.offenders.mask_literals);
       }},
      {"activity_breakdown",
       [](MapReader& r, ConfigProblems& p, CollectorSettings& o) {
         ParseBreakdown(r, p, o.activity_breakdown);
       }},
  };
  for (const auto& s : sections) {
    if (!target.Has(s.key)) {
      target.Child(s.key);
      continue;
    }
    MapReader r(target.Child(s.key), target.PathOf(s.key), problems);
    if (!r.Valid()) {  // a non-mapping was reported by MapReader; an empty value is not
      if (target.Child(s.key).IsNull()) {
        problems.Add(target.MarkOf(s.key), target.PathOf(s.key), "must be a mapping");
      }
      continue;
    }
    s.parse(r, problems, out);
    r.Finish();
  }
}

}  // namespace poolwatch
