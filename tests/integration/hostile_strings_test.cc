// Database strings of every shape (control characters, invalid UTF-8, a 100 KB query,
// Slack control sequences) reach labels, /status JSON and Slack messages escaped, valid and
// bounded, against the real PostgreSQL 15 and the real poolwatch binary.
//
// PostgreSQL keeps application_name to printable ASCII, so the richer channels are a database
// name and the query text. A SQL_ASCII database accepts any bytes, so from it we create a
// database whose name carries control characters and invalid UTF-8; a session in that database
// runs a long query whose text (a comment and a quoted identifier, which literal masking keeps)
// carries the same, and poolwatch (connected to the UTF8 `postgres` database) reads both back raw.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "base/strings.h"
#include "tests/support/integration.h"
#include "tests/support/slack_receiver.h"

namespace poolwatch {
namespace {

using support::SlackReceiver;

PgStack*& stack = support::SharedStack();

// No quote or backslash (so it can be quoted in SQL and in a conninfo string as is); under
// PostgreSQL's 63-byte name limit.
const std::string kEvilDb = "<!channel> \x01\x07\x1b[31m\xff\xfe & <@U123> \xc3\x28";
const std::string kEvilApp = "<!here> & <b>bold</b>";
const std::string kReplacement = "\xEF\xBF\xBD";

/// Any C0 control character but newline, or DEL.
bool HasControl(const std::string& s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  }
  return false;
}

/// Valid UTF-8, checked by a strict parser (nlohmann rejects invalid sequences when parsing).
bool ValidUtf8(const std::string& s) {
  try {
    return nlohmann::json::parse(nlohmann::json(s).dump(-1, ' ', false,
                                                        nlohmann::json::error_handler_t::strict))
        .is_string();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

/// The session in the hostile database: a 100 KB query that sleeps, its text full of hostile
/// bytes outside string literals (a comment and a quoted identifier).
std::string HostileQuery() {
  std::string junk;
  while (junk.size() < 100 * 1024) junk += "<!here> \x02\xfe\xff <@U999|x> &amp; \x1b[0m ";
  return "SELECT pg_sleep(30) AS \"<!channel> \x01\x1b[31m \xff\" /* <!everyone> \x03\x7f "
         "\xc3\x28 " +
         junk + " */";
}

TEST(HostileStringsIntegration, DatabaseStringsReachMetricsStatusAndSlackEscapedValidBounded) {
  Sql super(stack->SuperDsn("postgres"));
  super.Exec(
      "CREATE DATABASE hostile_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
      "TEMPLATE template0");
  {
    Sql ascii(stack->SuperDsn("hostile_ascii"));
    ascii.Exec("CREATE DATABASE \"" + kEvilDb +
               "\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
  }
  Sql evil("host=127.0.0.1 port=" + std::to_string(stack->pg_port()) + " user=postgres dbname='" +
           kEvilDb + "' application_name='" + kEvilApp + "'");
  int pid = evil.BackendPid();
  evil.Send(HostileQuery());

  SlackReceiver rx;
  std::string yaml =
      "sampling: {interval: 500ms, timeout: 400ms}\n"
      "targets:\n"
      "  postgres:\n"
      "    - name: pg\n"
      "      dsn: \"" +
      stack->PgDsn("postgres") +
      "\"\n"
      "      offenders: {query_length: 2000}\n"
      "alerts:\n"
      "  dashboard_url: \"https://grafana.example/d/poolwatch?a=1&b=2\"\n"
      "  rules:\n"
      "    long_transaction: {warning: 1s, critical: 300s, for: 1s,\n"
      "                       runbook_url: \"https://runbooks.example/long?x=1&y=2\"}\n"
      "    connection_leak: {enabled: false}\n"
      "  receivers:\n"
      "    - name: oncall\n"
      "      slack: {webhook_url: \"" +
      rx.Url() +
      "\"}\n"
      "  route:\n"
      "    group_by: [alertname, target]\n"
      "    group_wait: 0s\n"
      "    group_interval: 1s\n";
  PoolwatchProcess pw(yaml);
  ASSERT_TRUE(pw.WaitReady()) << pw.Logs();

  // --- Labels: /metrics carries the hostile database name, sanitized and bounded. ---
  std::string exposition;
  std::string evil_line;
  ASSERT_TRUE(pw.WaitMetric(
      [&](const std::string& m) {
        exposition = m;
        std::istringstream lines(m);
        for (std::string line; std::getline(lines, line);) {
          if (line.rfind("poolwatch_pg_oldest_transaction_age_seconds{", 0) == 0 &&
              line.find("<!channel>") != std::string::npos) {
            evil_line = line;
            return std::stod(line.substr(line.rfind(' ') + 1)) >= 1;
          }
        }
        return false;
      },
      20s))
      << exposition << pw.Logs();
  EXPECT_TRUE(ValidUtf8(exposition));
  EXPECT_FALSE(HasControl(exposition));
  EXPECT_THAT(evil_line, HasSubstr(kReplacement)) << "invalid bytes and controls replaced";
  EXPECT_THAT(evil_line, HasSubstr("& <@U123>")) << "text kept, not dropped";
  {
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_LT(line.size(), 8 * kMaxLabelValueBytes) << line.substr(0, 200);
    }
  }
  support::TempDir d;
  support::WriteFile(d.File("scrape.prom"), exposition);
  std::string promtool_out;
  int rc = support::RunCommand(
      {"/bin/sh", "-c", "promtool check metrics < " + d.File("scrape.prom")}, &promtool_out);
  EXPECT_NE(rc, 1) << "promtool: the exposition must parse\n" << promtool_out;
  EXPECT_THAT(promtool_out, Not(HasSubstr("error"))) << promtool_out;

  // --- /status: valid JSON, the offender present, every field bounded. ---
  auto status = support::HttpGet(pw.Url("/status"));
  ASSERT_EQ(status.status, 200) << status.body.substr(0, 2000);
  // JSON escapes control characters (DEL needs no escape); no raw one but pretty-printing's.
  for (unsigned char c : status.body) EXPECT_FALSE(c < 0x20 && c != '\n') << int(c);
  EXPECT_THAT(status.body, HasSubstr("\\u001b")) << "ESC from the query, escaped";
  nlohmann::json sj;
  ASSERT_NO_THROW(sj = nlohmann::json::parse(status.body)) << status.body.substr(0, 2000);
  const nlohmann::json* hostile = nullptr;
  for (const auto& t : sj["targets"]) {
    for (const auto& o : t["offenders"]) {
      if (o.value("pid", 0) == pid) hostile = &o;
    }
  }
  ASSERT_NE(hostile, nullptr) << status.body.substr(0, 4000);
  std::string query = hostile->value("query", "");
  EXPECT_THAT(query, HasSubstr("<!everyone>")) << "the comment reached the offender";
  EXPECT_LE(query.size(), kMaxStatusQueryBytes);
  EXPECT_TRUE(ValidUtf8(query));
  std::string datname = hostile->value("datname", "");
  EXPECT_THAT(datname, HasSubstr("<!channel>"));
  EXPECT_THAT(datname, HasSubstr(kReplacement));
  EXPECT_LE(datname.size(), kMaxStatusFieldBytes);
  EXPECT_EQ(hostile->value("application_name", ""), kEvilApp);

  // --- Slack: the LongTransaction message names the session, escaped, valid and bounded. ---
  std::string body;
  ASSERT_TRUE(support::WaitUntil(
      [&] {
        for (const auto& r : rx.Delivered()) {
          if (r.body.find("LongTransaction") != std::string::npos &&
              r.body.find("pid " + std::to_string(pid)) != std::string::npos) {
            body = r.body;
            return true;
          }
        }
        return false;
      },
      30s))
      << [&] {
           std::string all = pw.Logs();
           for (const auto& r : rx.Requests()) {
             all += "\n--- " + std::to_string(r.answered_status) + " " + r.body.substr(0, 3000);
           }
           return all;
         }();
  nlohmann::json msg;
  ASSERT_NO_THROW(msg = nlohmann::json::parse(body)) << body;  // valid JSON and UTF-8
  EXPECT_LT(body.size(), 8000u);
  std::vector<std::string> texts = {msg.value("text", "")};
  for (const auto& att : msg["attachments"]) {
    for (const auto& b : att["blocks"]) {
      if (b.contains("text")) texts.push_back(b["text"]["text"].get<std::string>());
      if (b.contains("elements")) {
        for (const auto& e : b["elements"]) texts.push_back(e["text"].get<std::string>());
      }
    }
  }
  std::string all;
  const std::regex own_link("<https://[a-z0-9./?=&;]+\\|(Runbook|Dashboard)>");
  for (const auto& t : texts) {
    all += t + "\n";
    EXPECT_LE(t.size(), 3000u) << "a Slack section text must be under 3001 characters";
    EXPECT_FALSE(HasControl(t)) << t;
    std::string outside = std::regex_replace(t, own_link, "");
    EXPECT_EQ(outside.find('<'), std::string::npos) << "unescaped < in: " << t;
    EXPECT_EQ(outside.find('>'), std::string::npos) << "unescaped > in: " << t;
  }
  EXPECT_THAT(all, HasSubstr("&lt;!channel&gt;")) << all;
  EXPECT_THAT(all, HasSubstr("&lt;!here&gt; &amp; &lt;b&gt;bold&lt;/b&gt;")) << all;
  EXPECT_THAT(all, HasSubstr("|Runbook>")) << all;
  EXPECT_THAT(all, Not(HasSubstr("<!channel>")));
  EXPECT_THAT(all, Not(HasSubstr("<!here>")));
  EXPECT_THAT(all, Not(HasSubstr("<!everyone>")));
  EXPECT_THAT(all, Not(HasSubstr("<@U")));

  super.Exec("SELECT pg_cancel_backend(" + std::to_string(pid) + ")");
}

}  // namespace
}  // namespace poolwatch
