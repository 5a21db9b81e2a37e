#include "collectors/metrics.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "base/strings.h"

namespace poolwatch {
namespace {

bool Includes(const std::vector<prometheus::ClientMetric::Label>& have, const Labels& want) {
  for (const auto& kv : want) {
    // Not a structured binding: clang (C++17) cannot capture one in the lambda.
    const std::string& k = kv.first;
    auto it = std::find_if(have.begin(), have.end(),
                           [&](const prometheus::ClientMetric::Label& l) { return l.name == k; });
    if (it == have.end() || it->value != kv.second) return false;
  }
  return true;
}

double ValueOf(const prometheus::MetricFamily& f, const prometheus::ClientMetric& m) {
  return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
}

}  // namespace

void MetricSet::Gauge(std::string_view name, std::string_view help, Labels labels, double value) {
  Add(name, help, prometheus::MetricType::Gauge, std::move(labels), value);
}

void MetricSet::Counter(std::string_view name, std::string_view help, Labels labels,
                        double value) {
  Add(name, help, prometheus::MetricType::Counter, std::move(labels), value);
}

void MetricSet::Declare(std::string_view name, std::string_view help,
                        prometheus::MetricType type) {
  Family(name, help, type);
}

prometheus::MetricFamily& MetricSet::Family(std::string_view name, std::string_view help,
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
  prometheus::MetricFamily f;
  f.name = std::string(name);
  f.help = std::string(help);
  f.type = type;
  if (const FamilyDesc* d = FindFamily(name)) {
    f.help = d->help;
    f.type = d->type;
    if (d->type != type) {
      problems_.insert(f.name + ": emitted as another type than declared");
    } else if (d->help != help) {
      problems_.insert(f.name + ": emitted with another HELP: " + std::string(help));
    }
  } else {
    problems_.insert(f.name + ": not declared in MetricFamilies()");
  }
  std::string key = f.name;
  return families_.emplace_hint(it, std::move(key), std::move(f))->second;
}

void MetricSet::Add(std::string_view name, std::string_view help, prometheus::MetricType type,
                    Labels labels, double value) {
  auto& family = Family(name, help, type);
  prometheus::ClientMetric& m = family.metric.emplace_back();  // built in place: no move
  m.label.reserve(labels.size());
  // Label values may come from a database: keep them valid UTF-8, free of control characters and
  // bounded (the serializer escapes quotes, backslashes and newlines).
  for (auto& [k, v] : labels) {
    m.label.push_back({std::move(k), BoundedUtf8(v, kMaxLabelValueBytes, true)});
  }
  if (family.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

void MetricSet::Merge(MetricSet&& other) {
  for (auto& [name, fam] : other.families_) {
    auto it = families_.find(name);
    if (it == families_.end()) {
      families_.emplace(name, std::move(fam));
    } else {
      auto& dst = it->second.metric;
      std::move(fam.metric.begin(), fam.metric.end(), std::back_inserter(dst));
    }
  }
  other.families_.clear();
  problems_.merge(other.problems_);
  other.problems_.clear();
}

std::vector<prometheus::MetricFamily> MetricSet::Families() const {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families_.size());
  for (const auto& [name, fam] : families_) out.push_back(fam);
  return out;
}

std::optional<double> MetricSet::Value(std::string_view name, const Labels& match) const {
  auto it = families_.find(name);
  if (it == families_.end()) return std::nullopt;
  for (const auto& m : it->second.metric) {
    if (Includes(m.label, match)) return ValueOf(it->second, m);
  }
  return std::nullopt;
}

std::vector<std::pair<Labels, double>> MetricSet::Samples(std::string_view name,
                                                          const Labels& match) const {
  std::vector<std::pair<Labels, double>> out;
  auto it = families_.find(name);
  if (it == families_.end()) return out;
  for (const auto& m : it->second.metric) {
    if (!Includes(m.label, match)) continue;
    Labels l;
    for (const auto& lab : m.label) l.emplace_back(lab.name, lab.value);
    out.emplace_back(std::move(l), ValueOf(it->second, m));
  }
  return out;
}

std::size_t MetricSet::SeriesCount() const {
  std::size_t n = 0;
  for (const auto& [name, fam] : families_) n += fam.metric.size();
  return n;
}

namespace {

void AppendLabelValue(std::string& out, const std::string& v) {
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
  metrics.ForEachFamily([&](const prometheus::MetricFamily& f) {
    if (!f.help.empty()) {
      out += "# HELP ";
      out += f.name;
      out += ' ';
      out += f.help;
      out += '\n';
    }
    out += "# TYPE ";
    out += f.name;
    out += TypeName(f.type);
    out += '\n';
    for (const auto& m : f.metric) {
      out += f.name;
      if (!m.label.empty()) {
        char sep = '{';
        for (const auto& l : m.label) {
          out += sep;
          out += l.name;
          out += "=\"";
          AppendLabelValue(out, l.value);
          out += '"';
          sep = ',';
        }
        out += '}';
      }
      out += ' ';
      AppendValue(out, ValueOf(f, m));
      if (m.timestamp_ms != 0) {
        out += ' ';
        out += std::to_string(m.timestamp_ms);
      }
      out += '\n';
    }
  });
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
