// The basic-auth cache (exporter/web_config.h): what it keeps, what it never keeps, its bound, and
// that concurrent first requests cost one bcrypt. Bcrypt cost 4 keeps it fast; the component test
// (tests/component/exporter_http_hardening_test.cc) uses a real web config file at the default
// cost.
#include <crypt.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "exporter/web_config.h"
#include "tests/support/util.h"

namespace poolwatch {
namespace {

std::string Bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  crypt_data data{};
  EXPECT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)), nullptr);
  return crypt_rn(password.c_str(), salt, &data, sizeof(data));
}

// The reference vectors of SipHash-2-4 (64-bit output), key 00..0f, message 00..(n-1).
TEST(SipHashTest, ReferenceVectors) {
  const std::uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
  std::string msg;
  for (int i = 0; i < 64; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 0)), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 1)), 0x74f839c593dc67fdULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 7)), 0xab0200f58b01d137ULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 8)), 0x93f5f5799a932462ULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 15)), 0xa129ca6149be45e5ULL);
  EXPECT_EQ(SipHash24(k0, k1, msg.substr(0, 63)), 0x958a324ceb064572ULL);
}

TEST(BasicAuthCacheTest, AGoodPasswordCostsOneBcryptAWrongOneAlwaysOneAnd401) {
  BasicAuthCache cache;
  const std::map<std::string, std::string> users = {{"prom", Bcrypt("scrape-pw")}};
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("prom:scrape-pw")));
  EXPECT_EQ(cache.BcryptRuns(), 1u);
  EXPECT_EQ(cache.Size(), 1u);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("prom:scrape-pw")));
  EXPECT_EQ(cache.BcryptRuns(), 1u) << "verified once, then from the cache";
  // A wrong password is never cached as good (nor as bad): bcrypt every time, and false.
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(cache.Check(users, support::BasicAuthHeader("prom:scrape-pX")));
  EXPECT_EQ(cache.BcryptRuns(), 4u);
  EXPECT_EQ(cache.Size(), 1u);
  // Neither is an unknown user, even with a cached user's password.
  EXPECT_FALSE(cache.Check(users, support::BasicAuthHeader("mallory:scrape-pw")));
  EXPECT_EQ(cache.BcryptRuns(), 5u);
  EXPECT_FALSE(cache.Check(users, support::BasicAuthHeader("prom:")));
  EXPECT_FALSE(cache.Check(users, support::BasicAuthHeader("prom:scrape-pw\n")));
  EXPECT_FALSE(cache.Check(users, support::BasicAuthHeader("prom")));
  EXPECT_FALSE(
      cache.Check(users, "Bearer " + support::BasicAuthHeader("prom:scrape-pw").substr(6)));
  EXPECT_TRUE(
      cache.Check(users, "basic  " + support::BasicAuthHeader("prom:scrape-pw").substr(6) + " "));
}

TEST(BasicAuthCacheTest, AnEntryIsBoundToTheHashItWasVerifiedAgainst) {
  BasicAuthCache cache;
  std::map<std::string, std::string> users = {{"prom", Bcrypt("old-pw")}};
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("prom:old-pw")));
  users["prom"] = Bcrypt("new-pw");  // a new web config with the password changed
  EXPECT_FALSE(cache.Check(users, support::BasicAuthHeader("prom:old-pw")))
      << "the old password is not cached as good";
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("prom:new-pw")));
  EXPECT_EQ(cache.BcryptRuns(), 3u);
  // Two users with the same password: each verified against its own hash.
  users["other"] = Bcrypt("new-pw");
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("other:new-pw")));
  EXPECT_EQ(cache.BcryptRuns(), 4u);
}

TEST(BasicAuthCacheTest, BoundedLeastRecentlyUsedGoesFirst) {
  BasicAuthCache cache(2);
  const std::map<std::string, std::string> users = {
      {"a", Bcrypt("pa")}, {"b", Bcrypt("pb")}, {"c", Bcrypt("pc")}};
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("a:pa")));
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("b:pb")));
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("a:pa")));  // a is now the most recent
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("c:pc")));  // evicts b
  EXPECT_EQ(cache.Size(), 2u);
  EXPECT_EQ(cache.BcryptRuns(), 3u);
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("a:pa")));
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("c:pc")));
  EXPECT_EQ(cache.BcryptRuns(), 3u);
  EXPECT_TRUE(cache.Check(users, support::BasicAuthHeader("b:pb")));
  EXPECT_EQ(cache.BcryptRuns(), 4u) << "b was evicted";
  BasicAuthCache none(0);
  EXPECT_TRUE(none.Check(users, support::BasicAuthHeader("a:pa")));
  EXPECT_TRUE(none.Check(users, support::BasicAuthHeader("a:pa")));
  EXPECT_EQ(none.BcryptRuns(), 2u);
  EXPECT_EQ(none.Size(), 0u);
}

// A scraper's first requests arriving together wait for one bcrypt, not one each.
TEST(BasicAuthCacheTest, ConcurrentFirstRequestsShareOneBcrypt) {
  BasicAuthCache cache;
  const std::map<std::string, std::string> users = {{"prom", Bcrypt("scrape-pw")}};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back(
        [&] { ok += cache.Check(users, support::BasicAuthHeader("prom:scrape-pw")) ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(cache.BcryptRuns(), 1u);
}

TEST(BasicAuthCacheTest, CheckBasicAuthGoesThroughTheGlobalCache) {
  const std::map<std::string, std::string> users = {{"g", Bcrypt("global-pw")}};
  const std::uint64_t before = BasicAuthCache::Global().BcryptRuns();
  EXPECT_TRUE(CheckBasicAuth(users, support::BasicAuthHeader("g:global-pw")));
  EXPECT_TRUE(CheckBasicAuth(users, support::BasicAuthHeader("g:global-pw")));
  EXPECT_FALSE(CheckBasicAuth(users, support::BasicAuthHeader("g:wrong")));
  EXPECT_EQ(BasicAuthCache::Global().BcryptRuns() - before, 2u);
}

}  // namespace
}  // namespace poolwatch
