#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

namespace poolwatch {

/// Label pairs in the order they are exported.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// The metric families of one snapshot (or of one target's part of it), built from scratch on
/// every sample so a vanished pool vanishes from /metrics. Not thread-safe: one owner at a time.
class MetricSet {
 public:
  /// Adds one gauge sample. The first call for a name fixes its help and type.
  void Gauge(std::string_view name, std::string_view help, Labels labels, double value);
  /// Adds one counter sample (the name should end in `_total`).
  void Counter(std::string_view name, std::string_view help, Labels labels, double value);
  /// Declares a family with no samples yet, so its HELP/TYPE are known (e.g. empty breakdowns).
  void Declare(std::string_view name, std::string_view help, prometheus::MetricType type);

  /// Moves every sample of `other` into this set.
  void Merge(MetricSet&& other);

  /// Families sorted by name, ready for a serializer (a copy of every series).
  std::vector<prometheus::MetricFamily> Families() const;
  /// Calls `fn(const prometheus::MetricFamily&)` for each family, sorted by name, without copying.
  template <typename Fn>
  void ForEachFamily(Fn&& fn) const {
    for (const auto& entry : families_) fn(entry.second);
  }

  /// The value of the first sample of `name` whose labels include all of `match`.
  std::optional<double> Value(std::string_view name, const Labels& match = {}) const;
  /// Every sample of `name` whose labels include all of `match`, with its labels.
  std::vector<std::pair<Labels, double>> Samples(std::string_view name,
                                                 const Labels& match = {}) const;
  bool Has(std::string_view name) const { return families_.count(std::string(name)) > 0; }
  std::size_t SeriesCount() const;

 private:
  void Add(std::string_view name, std::string_view help, prometheus::MetricType type,
           Labels labels, double value);
  std::map<std::string, prometheus::MetricFamily, std::less<>> families_;
};

/// Renders families in the Prometheus text exposition format (0.0.4).
std::string RenderText(const MetricSet& metrics);

/// gzip-compresses `data` (for Accept-Encoding: gzip). Throws std::runtime_error on failure.
std::string Gzip(std::string_view data);

}  // namespace poolwatch
