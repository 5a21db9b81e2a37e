#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace poolwatch {

/// Label pairs in the order they are exported.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// One metric family as poolwatch serves it: name, type, HELP and label names (in the order
/// the emitters give them). Like node_exporter's descriptors, every family is declared once, in
/// MetricFamilies(); the alert rules and the tests read the same table.
struct FamilyDesc {
  std::string name;
  prometheus::MetricType type;
  std::string help;
  std::vector<std::string> labels;
};

/// Every family poolwatch serves, sorted by name (collectors/metric_families.cc).
const std::vector<FamilyDesc>& MetricFamilies();
/// The declaration of `name`, or nullptr when the table has none.
const FamilyDesc* FindFamily(std::string_view name);

/// The declared HELP of `name` (empty when undeclared): what an emitter passes, so its text is
/// written once, in the table.
std::string_view Help(std::string_view name);

/// The metric families of one snapshot (or of one target's part of it), built from scratch on
/// every sample so a vanished pool vanishes from /metrics. Not thread-safe: one owner at a time.
///
/// Stored compactly: every label name and value of the set back to back in one string, each
/// series a value and a range of (offset, length) pairs into it. A sample adds thousands of
/// series; one prometheus::ClientMetric each (with its own label vector and strings) cost a fifth
/// of a sample's CPU and most of its allocations (BENCHMARKS.md, issue 16).
class MetricSet {
 public:
  /// Adds one gauge sample. A family in MetricFamilies() is served with the table's HELP and
  /// type whatever the caller passes (so emission order cannot change them); a caller whose help
  /// or type differs from the table, or a family missing from the table, is recorded in
  /// DeclarationProblems(). Otherwise the first call for a name fixes its help and type.
  /// Label values are kept valid UTF-8, free of control characters and bounded.
  void Gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  /// Adds one counter sample (the name should end in `_total`).
  void Counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  /// Declares a family with no samples yet, so its HELP/TYPE are known (e.g. empty breakdowns).
  void Declare(std::string_view name, std::string_view help, prometheus::MetricType type);

  /// Moves every sample of `other` into this set.
  void Merge(MetricSet&& other);

  /// Families sorted by name as prometheus-cpp's types (a copy of every series: for comparing
  /// with its serializer, not for serving).
  std::vector<prometheus::MetricFamily> Families() const;

  /// The value of the first sample of `name` whose labels include all of `match`.
  std::optional<double> Value(std::string_view name, const Labels& match = {}) const;
  /// Every sample of `name` whose labels include all of `match`, with its labels.
  std::vector<std::pair<Labels, double>> Samples(std::string_view name,
                                                 const Labels& match = {}) const;
  /// "family: what differs" for each emitter that disagrees with MetricFamilies() (a stale
  /// HELP, another type) and each family the table does not declare; empty when all agree.
  const std::set<std::string>& DeclarationProblems() const { return problems_; }
  bool Has(std::string_view name) const { return families_.count(name) > 0; }
  std::size_t SeriesCount() const;

  /// How much label storage the set holds: what to reserve for the next set like it (a target's
  /// next sample), so building one does not grow its buffers step by step.
  struct Footprint {
    std::size_t text = 0;
    std::size_t labels = 0;
  };
  Footprint Size() const { return {text_.size(), labels_.size()}; }
  void Reserve(Footprint f) {
    text_.reserve(f.text);
    labels_.reserve(f.labels);
  }

 private:
  friend std::string RenderText(const MetricSet& metrics, std::size_t reserve);
  /// One label: offsets and lengths of its name and value in text_.
  struct LabelRef {
    std::uint32_t name;
    std::uint32_t name_size;
    std::uint32_t value;
    std::uint32_t value_size;
  };
  /// One series: labels_[first_label, first_label + label_count) and its value.
  struct Series {
    std::uint32_t first_label;
    std::uint32_t label_count;
    double value;
  };
  struct FamilyData {
    std::string help;
    prometheus::MetricType type;
    std::vector<Series> series;
  };
  /// The family `name`, created from the table on first use (one lookup per sample added).
  FamilyData& Family(std::string_view name, std::string_view help, prometheus::MetricType type);
  void Add(std::string_view name, std::string_view help, prometheus::MetricType type,
           const Labels& labels, double value);
  std::string_view NameOf(const LabelRef& l) const { return {text_.data() + l.name, l.name_size}; }
  std::string_view ValueOf(const LabelRef& l) const {
    return {text_.data() + l.value, l.value_size};
  }
  /// The labels of `s`, as [first, last).
  std::pair<const LabelRef*, const LabelRef*> LabelsOf(const Series& s) const {
    const LabelRef* first = labels_.data() + s.first_label;
    return {first, first + s.label_count};
  }
  bool Includes(const Series& s, const Labels& want) const;

  std::map<std::string, FamilyData, std::less<>> families_;
  std::string text_;              // every label name and value, back to back
  std::vector<LabelRef> labels_;  // every series' labels, in order
  std::set<std::string> problems_;
};

/// Renders families in the Prometheus text exposition format (0.0.4), byte for byte what
/// prometheus-cpp's TextSerializer writes. `reserve`: the expected size (the last rendering's).
std::string RenderText(const MetricSet& metrics, std::size_t reserve = 0);

/// gzip-compresses `data` (for Accept-Encoding: gzip). Throws std::runtime_error on failure.
/// Level 1 by default: once per snapshot, the exposition text's repetitive label sets compress
/// almost as well as at zlib's default 6 for a fraction of the CPU (BENCHMARKS.md).
std::string Gzip(std::string_view data, int level = 1);

/// One rendering of a snapshot's metrics as served: the text and its gzip. Shared, never copied,
/// between the evaluator's snapshot and the one /metrics serves (exporter/snapshot_store.h).
struct Exposition {
  std::string text;
  std::string gzip;
};
/// `text` and its Gzip(), ready to share.
std::shared_ptr<const Exposition> Expose(std::string text);

}  // namespace poolwatch
