#include "tests/support/prometheus.h"

#include <curl/curl.h>

#include <utility>

namespace poolwatch::support {

using nlohmann::json;
using namespace std::chrono_literals;

std::string UrlEncode(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  return out;
}

Prometheus::Prometheus(std::string scrape_configs, std::string rules)
    : scrape_configs_(std::move(scrape_configs)), rules_(std::move(rules)) {}

Prometheus::~Prometheus() = default;

bool Prometheus::Start(std::string* error) {
  std::string config =
      "global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}\n";
  if (!rules_.empty()) {
    WriteFile(dir_.File("rules.yaml"), rules_);
    config += "rule_files: [" + dir_.File("rules.yaml") + "]\n";
  }
  config += "scrape_configs:\n" + scrape_configs_;
  WriteFile(dir_.File("prometheus.yml"), config);
  std::string out;
  if (RunCommand({"/usr/bin/promtool", "check", "config", dir_.File("prometheus.yml")}, &out) !=
      0) {
    *error = "promtool check config: " + out;
    return false;
  }
  port_ = FreePort();
  proc_ = std::make_unique<Process>(std::vector<std::string>{
      "/usr/bin/prometheus", "--config.file=" + dir_.File("prometheus.yml"),
      "--storage.tsdb.path=" + dir_.File("data"),
      "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
  if (!WaitUntil([&] { return HttpGet(Url() + "/-/ready", {}, 1000).status == 200; }, 60s)) {
    *error = "Prometheus not ready within 60 s: " + proc_->Stderr();
    return false;
  }
  return true;
}

PromResult Prometheus::Query(const std::string& promql) const {
  PromResult q;
  auto r = HttpGet(Url() + "/api/v1/query?query=" + UrlEncode(promql), {}, 10000);
  if (r.status == 0) {
    q.error = "transport: " + r.error;
    return q;
  }
  json body = json::parse(r.body, nullptr, false);
  if (body.is_discarded()) {
    q.error = "HTTP " + std::to_string(r.status) + ": " + r.body;
    return q;
  }
  if (body.value("status", "") != "success") {
    q.error = body.value("errorType", "") + ": " + body.value("error", r.body);
    return q;
  }
  q.ok = true;
  q.result = body["data"]["result"];
  return q;
}

}  // namespace poolwatch::support
