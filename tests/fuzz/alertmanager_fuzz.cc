// libFuzzer target: the Alertmanager renderer (RenderAlertmanager, the POST /api/v2/alerts body).
// A notification built from fuzz bytes (see alerts_fuzz_support.h) must render as
//  - JSON that parses, and strict UTF-8;
//  - an array with one item per alert, each {labels, annotations, startsAt, endsAt} with string
//    values only;
//  - labels that keep the alert's identity: exactly its keys with a non-empty value;
//  - bounded values: each label value and annotation within its cap, whatever came in;
//  - endsAt = now + 4 x max(eval interval, 1m) for firing alerts, the resolve time for resolved
//    ones; startsAt the firing time (or now when unknown);
//  - no planted password or webhook secret anywhere.
// A violation aborts, so libFuzzer keeps the input.
#include <algorithm>
#include <chrono>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "alerts/render.h"
#include "alerts/text.h"
#include "base/time.h"
#include "tests/fuzz/alerts_fuzz_support.h"

namespace {

using nlohmann::json;
using poolwatch::fuzz::Violation;

// Caps the renderer promises (render.h): label values, annotations ("who", "summary",
// "description"), and the short value text.
constexpr size_t kLabelMax = 1024;
constexpr size_t kAnnotationMax = 1000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  poolwatch::fuzz::Reader r(data, size);
  bool secrets = false;
  poolwatch::Notification n = poolwatch::fuzz::MakeNotification(r, secrets);
  const poolwatch::WallTime now = poolwatch::fuzz::kNow;
  std::string body = poolwatch::RenderAlertmanager(n, now);

  if (!poolwatch::fuzz::StrictUtf8(body)) Violation("body is not UTF-8", body);
  poolwatch::fuzz::CheckNoSecrets(body);
  json arr;
  try {
    arr = json::parse(body);
  } catch (const json::exception& e) {
    Violation(e.what(), body);
  }
  if (!arr.is_array() || arr.size() != n.alerts.size()) Violation("one item per alert", body);

  auto interval = std::max(n.eval_interval, std::chrono::milliseconds(60'000));
  for (size_t i = 0; i < arr.size(); ++i) {
    const json& item = arr[i];
    const poolwatch::Alert& a = n.alerts[i];
    if (!item.is_object() || !item.contains("labels") || !item["labels"].is_object() ||
        !item.contains("annotations") || !item["annotations"].is_object()) {
      Violation("item shape", body);
    }
    std::set<std::string> want, got;
    for (const auto& [k, v] : a.labels) {
      if (!v.empty()) want.insert(k);
    }
    for (const auto& [k, v] : item["labels"].items()) {
      got.insert(k);
      if (!v.is_string()) Violation("label value not a string", body);
      const std::string& s = v.get_ref<const std::string&>();
      if (s.empty()) Violation("empty label value", body);
      if (s.size() > kLabelMax) Violation("label value over its cap", body);
    }
    if (want != got) Violation("labels do not keep the alert's identity", body);
    for (const auto& [k, v] : item["annotations"].items()) {
      if (!v.is_string()) Violation("annotation not a string", body);
      const std::string& s = v.get_ref<const std::string&>();
      if ((k == "runbook_url" && s == a.runbook_url) ||
          (k == "dashboard_url" && s == n.dashboard_url)) {
        continue;  // configuration, passed through
      }
      if (s.size() > kAnnotationMax) Violation("annotation over its cap", body);
    }
    if (!item["annotations"].contains("summary")) Violation("no summary", body);
    if (!item.contains("startsAt") || !item["startsAt"].is_string() || !item.contains("endsAt") ||
        !item["endsAt"].is_string()) {
      Violation("startsAt/endsAt missing", body);
    }
    poolwatch::WallTime starts = a.starts_at.time_since_epoch().count() != 0 ? a.starts_at : now;
    poolwatch::WallTime ends =
        a.state == poolwatch::AlertState::kResolved ? a.resolved_at : now + 4 * interval;
    if (item["startsAt"] != poolwatch::Rfc3339(starts)) Violation("startsAt", body);
    if (item["endsAt"] != poolwatch::Rfc3339(ends)) Violation("endsAt", body);
  }
  return 0;
}
