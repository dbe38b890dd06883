#include <gtest/gtest.h>

#include <thread>

#include "host/vars.hpp"

using wasimancer::host::VarStore;

TEST(VarStore, SetGetDelete) {
  VarStore v(1 << 20);
  ASSERT_TRUE(v.set("a", std::string_view("1")).ok());
  EXPECT_EQ(v.get("a").value(), "1");
  ASSERT_TRUE(v.set("a", std::string_view("22")).ok());
  EXPECT_EQ(v.get("a").value(), "22");
  ASSERT_TRUE(v.set("a", std::nullopt).ok());
  EXPECT_FALSE(v.get("a"));
  EXPECT_EQ(v.bytes(), 0u);
}

TEST(VarStore, DisabledWhenMaxIsZero) {
  VarStore v(0);
  auto r = v.set("a", std::string_view("1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "Vars are disabled by this host");
}

TEST(VarStore, FullCountsKeyValueAndOverhead) {
  // Extism's accounting: key + value + 48 per entry.
  VarStore v(1024);
  auto r = v.set("buffer", std::string(1024, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "Variable store is full");
  ASSERT_TRUE(v.set("k", std::string(1024 - 48 - 1, 'x')).ok());
  EXPECT_EQ(v.bytes(), 1024u);
  EXPECT_FALSE(v.set("j", std::string_view("")).ok());
  // Replacing an entry frees its old cost first.
  ASSERT_TRUE(v.set("k", std::string_view("small")).ok());
  ASSERT_TRUE(v.set("j", std::string_view("")).ok());
}

TEST(VarStore, ConcurrentSetsAreConsistent) {
  VarStore v(1 << 24);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&v, t] {
      for (int i = 0; i < 1000; ++i) (void)v.set("k" + std::to_string(t) + "_" + std::to_string(i), std::string_view("v"));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(v.size(), 4000u);
  uint64_t expected = 0;
  for (auto& [k, val] : v.snapshot()) expected += k.size() + val.size() + VarStore::kEntryOverhead;
  EXPECT_EQ(v.bytes(), expected);
}
