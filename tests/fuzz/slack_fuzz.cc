// libFuzzer target: the Slack renderer (RenderSlack). A notification built from fuzz bytes
// (several alerts; labels, summaries, details and offenders of arbitrary bytes: invalid UTF-8,
// control characters, Slack control sequences, 100 KB values, planted DSN passwords and webhook
// URLs) must render as a payload that
//  - parses as JSON and is strict UTF-8;
//  - keeps Slack's limits: at most 50 blocks, each section under 3001 characters, and all text
//    within the budget (plus the fixed "...and N more" and dashboard lines);
//  - contains no Slack control sequence from outside: every '<' or '>' is one of the renderer's
//    own links (runbook, dashboard, from configuration), every '&' starts &amp; &lt; or &gt;;
//  - contains no control character but newline in any text;
//  - never contains a planted password or webhook secret;
//  - counts every alert: the header says how many fire and resolve, and alerts left out are
//    announced as "...and N more".
// A violation aborts, so libFuzzer keeps the input.
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/render.h"
#include "alerts/text.h"
#include "tests/fuzz/alerts_fuzz_support.h"

namespace {

using nlohmann::json;
using poolwatch::fuzz::Violation;

constexpr size_t kSlackSectionMax = 3000;  // "must be under 3001 characters"
constexpr size_t kSlackBlocksMax = 50;

void CheckText(const std::string& t, const std::string& body) {
  size_t chars = 0;
  if (!poolwatch::fuzz::StrictUtf8(t, &chars)) Violation("text is not UTF-8", body);
  // The renderer's own links, with configuration values escaped as the renderer documents.
  std::string stripped = t;
  for (const std::string& link :
       {"<" + poolwatch::EscapeSlack(poolwatch::fuzz::kRunbook) + "|Runbook>",
        "<" + poolwatch::EscapeSlack(poolwatch::fuzz::kDashboard) + "|Dashboard>"}) {
    for (size_t p; (p = stripped.find(link)) != std::string::npos;) stripped.erase(p, link.size());
  }
  for (size_t i = 0; i < stripped.size(); ++i) {
    char c = stripped[i];
    if (c == '<' || c == '>') Violation("unescaped < or > (a Slack control sequence)", t);
    if (c == '&') {
      std::string_view rest(stripped.data() + i, std::min<size_t>(5, stripped.size() - i));
      if (rest.substr(0, 5) != "&amp;" && rest.substr(0, 4) != "&lt;" &&
          rest.substr(0, 4) != "&gt;") {
        Violation("an '&' that does not start &amp; &lt; or &gt;", t);
      }
    }
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n') || u == 0x7f) Violation("control character in text", t);
  }
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  poolwatch::fuzz::StrictUtf8(s, &n);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  poolwatch::fuzz::Reader r(data, size);
  bool secrets = false;
  poolwatch::Notification n = poolwatch::fuzz::MakeNotification(r, secrets);
  constexpr size_t kBudget = 3000;
  std::string body = poolwatch::RenderSlack(n, poolwatch::fuzz::kNow, kBudget);

  if (!poolwatch::fuzz::StrictUtf8(body)) Violation("body is not UTF-8", body);
  poolwatch::fuzz::CheckNoSecrets(body);
  json msg;
  try {
    msg = json::parse(body);
  } catch (const json::exception& e) {
    Violation(e.what(), body);
  }
  if (!msg.is_object() || !msg.contains("text") || !msg["text"].is_string() ||
      !msg.contains("attachments") || !msg["attachments"].is_array() ||
      msg["attachments"].size() != 1) {
    Violation("not {text, attachments: [one]}", body);
  }
  const json& att = msg["attachments"][0];
  std::string color = att.value("color", "");
  if (color != "good" && color != "warning" && color != "danger") Violation("bad color", body);
  if (!att.contains("blocks") || !att["blocks"].is_array()) Violation("no blocks", body);
  const json& blocks = att["blocks"];
  if (blocks.empty() || blocks.size() > kSlackBlocksMax) Violation("block count", body);

  std::string fallback = msg["text"].get<std::string>();
  CheckText(fallback, body);
  size_t total = CodePoints(fallback);
  size_t fixed = 0;  // the "...and N more" section and the dashboard context line
  size_t alert_sections = 0;
  long announced_more = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const json& b = blocks[i];
    std::string type = b.value("type", "");
    std::vector<std::string> texts;
    if (type == "section") {
      texts.push_back(b.at("text").at("text").get<std::string>());
    } else if (type == "context") {
      for (const auto& e : b.at("elements")) texts.push_back(e.at("text").get<std::string>());
    } else {
      Violation("unknown block type", body);
    }
    for (const auto& t : texts) {
      CheckText(t, body);
      size_t chars = CodePoints(t);
      if (chars > kSlackSectionMax) Violation("a block text over 3000 characters", body);
      if (type == "context") {
        fixed += chars;
      } else if (i > 0 && t.rfind("...and ", 0) == 0 && t.find('\n') == std::string::npos) {
        fixed += chars;
        announced_more = std::strtol(t.c_str() + 7, nullptr, 10);
      } else {
        total += chars;
        if (i > 0) ++alert_sections;
      }
    }
  }
  if (total > kBudget) Violation("message text over the budget", body);
  if (fixed > 400) Violation("fixed lines too long", body);
  if (body.size() > 64 * 1024) Violation("body over 64 KB", body);

  if (n.test) return 0;
  // Every alert is shown or counted; the header counts firing and resolved alerts.
  if (alert_sections + static_cast<size_t>(announced_more) != n.alerts.size()) {
    Violation("alerts neither shown nor counted in \"...and N more\"", body);
  }
  std::string header;
  if (n.Firing() > 0) header += "[FIRING:" + std::to_string(n.Firing()) + "]";
  if (n.Resolved() > 0) {
    header += (header.empty() ? "" : " ") + std::string("[RESOLVED:") +
              std::to_string(n.Resolved()) + "]";
  }
  if (fallback.rfind(header, 0) != 0) Violation("header does not count the alerts", body);
  return 0;
}
