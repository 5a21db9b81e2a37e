// libFuzzer target: result-set mapping. Every collector in the table (PgBouncer and PostgreSQL)
// runs over a FakeConnection that answers every query with fuzz-derived columns and rows. A
// collector may throw (that is a failed collector); it must never crash, and what it exports must
// render as a valid exposition.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "collectors/metrics.h"
#include "tests/support/fakes.h"

namespace {

// Input layout: cells separated by 0x1f, rows by 0x1e; the first row names the columns. A cell
// that is exactly "\x00" is NULL.
poolwatch::QueryResult Parse(const uint8_t* data, size_t size) {
  std::vector<std::vector<std::optional<std::string>>> rows(1);
  std::string cell;
  bool have_cell = false;
  auto end_cell = [&] {
    if (cell.size() == 1 && cell[0] == '\0') {
      rows.back().emplace_back(std::nullopt);
    } else {
      rows.back().emplace_back(cell);
    }
    cell.clear();
    have_cell = false;
  };
  for (size_t i = 0; i < size; ++i) {
    char c = static_cast<char>(data[i]);
    if (c == '\x1f') {
      end_cell();
    } else if (c == '\x1e') {
      end_cell();
      rows.emplace_back();
    } else {
      cell.push_back(c);
      have_cell = true;
    }
  }
  if (have_cell || !rows.back().empty()) end_cell();
  std::vector<std::string> cols;
  for (auto& c : rows.front()) cols.push_back(c.value_or(""));
  rows.erase(rows.begin());
  // QueryResult wants rectangular rows: pad or trim each to the column count.
  for (auto& r : rows) r.resize(cols.size());
  return poolwatch::QueryResult(std::move(cols), std::move(rows));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  poolwatch::QueryResult result = Parse(data, size);
  for (const auto& info : poolwatch::CollectorTable()) {
    poolwatch::support::FakeConnection conn({{"", [&](std::string_view) { return result; }}});
    poolwatch::TargetSample out;
    out.target = "fuzz";
    out.kind = info.kind;
    auto collector = info.make(poolwatch::CollectorOptions{});
    try {
      collector->Collect(conn, out);
    } catch (const std::exception&) {
      // A failed collector: reported by the Sampler, not a crash.
    }
    std::string text = poolwatch::RenderText(out.metrics);
    for (char c : text) {
      unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\n') || u == 0x7f) std::abort();  // a raw control char in output
    }
  }
  return 0;
}
