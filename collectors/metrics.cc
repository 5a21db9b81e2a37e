#include "collectors/metrics.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "base/strings.h"

namespace poolwatch {

void MetricSet::Gauge(std::string_view name, std::string_view help, const Labels& labels,
                      double value) {
  Add(name, help, prometheus::MetricType::Gauge, labels, value);
}

void MetricSet::Counter(std::string_view name, std::string_view help, const Labels& labels,
                        double value) {
  Add(name, help, prometheus::MetricType::Counter, labels, value);
}

void MetricSet::Declare(std::string_view name, std::string_view help,
                        prometheus::MetricType type) {
  Family(name, help, type);
}

MetricSet::FamilyData& MetricSet::Family(std::string_view name, std::string_view help,
                                         prometheus::MetricType type) {
  auto it = families_.lower_bound(name);
  if (it != families_.end() && it->first == name) {
    // Cheap per sample: the family's help and type are the table's (set below).
    if (it->second.type != type) {
      problems_.insert(std::string(name) + ": emitted as another type than declared");
    } else if (it->second.help != help) {
      problems_.insert(std::string(name) + ": emitted with another HELP: " + std::string(help));
    }
    return it->second;
  }
  FamilyData f{std::string(help), type, {}};
  if (const FamilyDesc* d = FindFamily(name)) {
    f.help = d->help;
    f.type = d->type;
    if (d->type != type) {
      problems_.insert(std::string(name) + ": emitted as another type than declared");
    } else if (d->help != help) {
      problems_.insert(std::string(name) + ": emitted with another HELP: " + std::string(help));
    }
  } else {
    problems_.insert(std::string(name) + ": not declared in MetricFamilies()");
  }
  return families_.emplace_hint(it, std::string(name), std::move(f))->second;
}

void MetricSet::Add(std::string_view name, std::string_view help, prometheus::MetricType type,
                    const Labels& labels, double value) {
  auto& family = Family(name, help, type);
  // Offsets are 32-bit: a set that would outgrow them (gigabytes of labels, which the bounded
  // label values make unreachable in practice) drops the series and says so.
  std::size_t most = 0;
  for (const auto& [k, v] : labels) most += k.size() + std::min(v.size() * 3, kMaxLabelValueBytes);
  if (text_.size() + most > std::numeric_limits<std::uint32_t>::max() ||
      labels_.size() + labels.size() > std::numeric_limits<std::uint32_t>::max()) {
    problems_.insert(std::string(name) + ": series dropped, the metric set is full");
    return;
  }
  family.series.push_back({static_cast<std::uint32_t>(labels_.size()),
                           static_cast<std::uint32_t>(labels.size()), value});
  for (const auto& [k, v] : labels) {
    LabelRef& ref = labels_.emplace_back();
    ref.name = static_cast<std::uint32_t>(text_.size());
    text_ += k;
    ref.name_size = static_cast<std::uint32_t>(k.size());
    ref.value = static_cast<std::uint32_t>(text_.size());
    // Label values may come from a database: keep them valid UTF-8, free of control characters
    // and bounded (the writer escapes quotes, backslashes and newlines).
    AppendBoundedUtf8(text_, v, kMaxLabelValueBytes, true);
    ref.value_size = static_cast<std::uint32_t>(text_.size() - ref.value);
  }
}

void MetricSet::Merge(MetricSet&& other) {
  const auto text_base = static_cast<std::uint32_t>(text_.size());
  const auto label_base = static_cast<std::uint32_t>(labels_.size());
  if (families_.empty() && problems_.empty()) {
    *this = std::move(other);  // the common first merge: nothing to rebase
    other = MetricSet();
    return;
  }
  text_ += other.text_;
  labels_.reserve(labels_.size() + other.labels_.size());
  for (LabelRef l : other.labels_) {
    l.name += text_base;
    l.value += text_base;
    labels_.push_back(l);
  }
  for (auto& [name, fam] : other.families_) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      it = families_.emplace(name, FamilyData{std::move(fam.help), fam.type, {}}).first;
    }
    auto& dst = it->second.series;
    dst.reserve(dst.size() + fam.series.size());
    for (Series s : fam.series) {
      s.first_label += label_base;
      dst.push_back(s);
    }
  }
  problems_.merge(other.problems_);
  other = MetricSet();
}

bool MetricSet::Includes(const Series& s, const Labels& want) const {
  const auto [first, last] = LabelsOf(s);
  for (const auto& [k, v] : want) {
    const LabelRef* l = first;
    while (l != last && NameOf(*l) != k) ++l;
    if (l == last || ValueOf(*l) != v) return false;
  }
  return true;
}

std::vector<prometheus::MetricFamily> MetricSet::Families() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families_.size());
  for (const auto& [name, fam] : families_) {
    prometheus::MetricFamily& f = out.emplace_back();
    f.name = name;
    f.help = fam.help;
    f.type = fam.type;
    for (const Series& s : fam.series) {
      prometheus::ClientMetric& m = f.metric.emplace_back();
      for (auto [l, last] = LabelsOf(s); l != last; ++l) {
        m.label.push_back({std::string(NameOf(*l)), std::string(ValueOf(*l))});
      }
      (fam.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value) = s.value;
    }
  }
  return out;
}

std::optional<double> MetricSet::Value(std::string_view name, const Labels& match) const {
  auto it = families_.find(name);
  if (it == families_.end()) return std::nullopt;
  for (const Series& s : it->second.series) {
    if (Includes(s, match)) return s.value;
  }
  return std::nullopt;
}

std::vector<std::pair<Labels, double>> MetricSet::Samples(std::string_view name,
                                                          const Labels& match) const {
  std::vector<std::pair<Labels, double>> out;
  auto it = families_.find(name);
  if (it == families_.end()) return out;
  for (const Series& s : it->second.series) {
    if (!Includes(s, match)) continue;
    Labels l;
    l.reserve(s.label_count);
    for (auto [ref, last] = LabelsOf(s); ref != last; ++ref) {
      l.emplace_back(NameOf(*ref), ValueOf(*ref));
    }
    out.emplace_back(std::move(l), s.value);
  }
  return out;
}

std::size_t MetricSet::SeriesCount() const {
  std::size_t n = 0;
  for (const auto& [name, fam] : families_) n += fam.series.size();
  return n;
}

namespace {

void AppendLabelValue(std::string& out, std::string_view v) {
  // Most values need no escaping: append them whole.
  bool plain = true;
  for (char c : v) plain = plain && c != '\\' && c != '"' && c != '\n';
  if (plain) {
    out += v;
    return;
  }
  for (char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
}

const char* TypeName(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return " counter";
    case prometheus::MetricType::Gauge:
      return " gauge";
    case prometheus::MetricType::Summary:
      return " summary";
    case prometheus::MetricType::Histogram:
      return " histogram";
    case prometheus::MetricType::Untyped:
      break;
  }
  return " untyped";
}

// What prometheus-cpp's TextSerializer writes for a double ("%.16g" in the C locale, its
// spellings of NaN and the infinities), without a locale-aware stream.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
  } else if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 16);
    out.append(buf, r.ptr);
  }
}

}  // namespace

std::string RenderText(const MetricSet& metrics, std::size_t reserve) {
  // Straight into one buffer: the same bytes as prometheus::TextSerializer (which a unit test
  // holds it to) without an ostream or a copy of each family for it.
  std::string out;
  out.reserve(reserve);
  for (const auto& [name, f] : metrics.families_) {
    if (!f.help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      out += f.help;
      out += '\n';
    }
    out += "# TYPE ";
    out += name;
    out += TypeName(f.type);
    out += '\n';
    for (const MetricSet::Series& s : f.series) {
      out += name;
      char sep = '{';
      for (auto [l, last] = metrics.LabelsOf(s); l != last; ++l) {
        out += sep;
        out += metrics.NameOf(*l);
        out += "=\"";
        AppendLabelValue(out, metrics.ValueOf(*l));
        out += '"';
        sep = ',';
      }
      if (s.label_count > 0) out += '}';
      out += ' ';
      AppendValue(out, s.value);
      out += '\n';
    }
  }
  return out;
}

std::string Gzip(std::string_view data, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  // The exposition compresses ~15-20x: start at an eighth of the input and grow if needed, rather
  // than at deflateBound() (about the input's size), which would zero and fault in hundreds of
  // KB each sample only to shrink them away.
  std::string out(std::max<std::size_t>(data.size() / 8, 4096), '\0');
  int rc = Z_OK;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = deflate(&zs, Z_FINISH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;  // Z_STREAM_END, or an error
    out.resize(out.size() * 2);                  // output space ran out: more, and go on
  }
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(zs.total_out);
  if (out.capacity() > out.size() + out.size() / 4) out.shrink_to_fit();
  return out;
}

std::shared_ptr<const Exposition> Expose(std::string text) {
  auto e = std::make_shared<Exposition>();
  e->gzip = Gzip(text);
  e->text = std::move(text);
  return e;
}

}  // namespace poolwatch
