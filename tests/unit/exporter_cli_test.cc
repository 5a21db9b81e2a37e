#include "exporter/cli.h"

#include <gtest/gtest.h>

#include "exporter/http_server.h"

namespace poolwatch {
namespace {

TEST(CliTest, ParsesEveryFlagForm) {
  CliOptions o;
  std::string err;
  ASSERT_TRUE(ParseCli({"-c", "a.yaml", "--once", "--output=json", "--log.level=debug",
                        "--log.format", "json", "--web.listen-address=127.0.0.1:1"},
                       o, err))
      << err;
  EXPECT_EQ(o.config_file, "a.yaml");
  EXPECT_TRUE(o.once);
  EXPECT_EQ(o.output, "json");
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.log_format, "json");
  EXPECT_EQ(o.listen_address, "127.0.0.1:1");
  CliOptions o2;
  ASSERT_TRUE(ParseCli({"--config.file=b.yaml", "--check-config"}, o2, err));
  EXPECT_EQ(o2.config_file, "b.yaml");
  EXPECT_TRUE(o2.check_config);
}

TEST(CliTest, UsageErrors) {
  CliOptions o;
  std::string err;
  EXPECT_FALSE(ParseCli({"-c", "a", "--bogus"}, o, err));
  EXPECT_EQ(err, "unknown flag --bogus");
  EXPECT_FALSE(ParseCli({"-c", "a", "--output=xml"}, o, err));
  EXPECT_FALSE(ParseCli({"-c"}, o, err));
  EXPECT_EQ(err, "flag -c needs a value");
  unsetenv("POOLWATCH_CONFIG");
  CliOptions o3;
  EXPECT_FALSE(ParseCli({"--once"}, o3, err));
  EXPECT_NE(err.find("POOLWATCH_CONFIG"), std::string::npos);
}

TEST(CliTest, ConfigFromEnvironment) {
  setenv("POOLWATCH_CONFIG", "/etc/pw.yaml", 1);
  CliOptions o;
  std::string err;
  ASSERT_TRUE(ParseCli({}, o, err));
  EXPECT_EQ(o.config_file, "/etc/pw.yaml");
  unsetenv("POOLWATCH_CONFIG");
}

TEST(ListenAddressTest, ConvertsToCivetWebSyntax) {
  std::string out;
  ASSERT_TRUE(ToCivetPorts(":9930", out));
  EXPECT_EQ(out, "9930");
  ASSERT_TRUE(ToCivetPorts("127.0.0.1:0", out));
  EXPECT_EQ(out, "127.0.0.1:0");
  ASSERT_TRUE(ToCivetPorts("[::1]:9930", out));
  EXPECT_EQ(out, "[::1]:9930");
  EXPECT_FALSE(ToCivetPorts("9930", out));
  EXPECT_FALSE(ToCivetPorts(":99999", out));
  EXPECT_FALSE(ToCivetPorts("host:abc", out));
}

}  // namespace
}  // namespace poolwatch
