#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/glob.hpp"
#include "core/text.hpp"

using namespace wasimancer;

TEST(Glob, StarMatchesAnythingIncludingDots) {
  EXPECT_TRUE(glob_match("*", "jsonplaceholder.typicode.com"));
  EXPECT_TRUE(glob_match("*.typicode.com", "jsonplaceholder.typicode.com"));
  EXPECT_TRUE(glob_match("*.typicode.com", "a.b.typicode.com"));
  EXPECT_FALSE(glob_match("*.typicode.com", "typicode.com"));
  EXPECT_TRUE(glob_match("jsonplaceholder.*.com", "jsonplaceholder.typicode.com"));
  EXPECT_FALSE(glob_match("google.*", "jsonplaceholder.typicode.com"));
  EXPECT_FALSE(glob_match("google*", "jsonplaceholder.typicode.com"));
}

TEST(Glob, QuestionMarkAndClasses) {
  EXPECT_TRUE(glob_match("host?.example", "host1.example"));
  EXPECT_FALSE(glob_match("host?.example", "host.example"));
  EXPECT_TRUE(glob_match("10.0.0.[0-9]", "10.0.0.7"));
  EXPECT_FALSE(glob_match("10.0.0.[!0-9]", "10.0.0.7"));
  EXPECT_TRUE(glob_match("[ab]x", "bx"));
}

TEST(Glob, CaseSensitiveAndExact) {
  EXPECT_FALSE(glob_match("Example.com", "example.com"));
  EXPECT_TRUE(glob_match("example.com", "example.com"));
  EXPECT_FALSE(glob_match("example.com", "example.com.evil"));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("", ""));
}

TEST(Glob, UnparsablePatternComparesExactly) {
  EXPECT_TRUE(glob_match("[abc", "[abc"));
  EXPECT_FALSE(glob_match("[abc", "a"));
}

TEST(Crypto, Sha256) {
  EXPECT_EQ(sha256_hex(std::string_view("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string_view("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, TokensAreRandomHex) {
  std::string a = random_token(32), b = random_token(32);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Crypto, SecretDigestMatchesWhatConstantTimeEqualAccepts) {
  SecretDigest token("s3cret-token");
  EXPECT_TRUE(token.matches("s3cret-token"));
  EXPECT_FALSE(token.matches("s3cret-tokeN"));
  EXPECT_FALSE(token.matches("s3cret-token "));
  EXPECT_FALSE(token.matches("s3cret-toke"));
  EXPECT_FALSE(token.matches(""));
  SecretDigest empty("");
  EXPECT_TRUE(empty.matches(""));
  EXPECT_FALSE(empty.matches("x"));
}

TEST(Crypto, ConstantTimeEqualFromManyThreads) {
  // The digest context is per thread: comparisons on several threads at once stay exact.
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string a = "token-" + std::to_string(t) + "-" + std::to_string(i), b = a, c = a + "x";
        if (!constant_time_equal(a, b) || constant_time_equal(a, c) || constant_time_equal(c, a)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  // The digests themselves are SHA-256 (a known vector).
  EXPECT_EQ(sha256_hex(std::string_view("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Text, AsciiLowerChangesOnlyAsciiLetters) {
  EXPECT_EQ(ascii_lower("Bearer ABC-xyz_09@[`{"), "bearer abc-xyz_09@[`{");
  EXPECT_EQ(ascii_lower("\xC3\x89T\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // UTF-8 bytes untouched
  EXPECT_EQ(ascii_lower(""), "");
  EXPECT_TRUE(ascii_iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(ascii_iequals("Content-Type", "Content-Typ"));
  EXPECT_FALSE(ascii_iequals("a[", "A{"));  // '[' and '{' differ by the case bit but are not letters
  EXPECT_TRUE(ascii_iequals("", ""));
  EXPECT_TRUE(ascii_istarts_with("BEARER abc", "bearer "));
  EXPECT_FALSE(ascii_istarts_with("Bear", "bearer "));
  EXPECT_FALSE(ascii_istarts_with("Bearer\tabc", "bearer "));
}

TEST(Crypto, Base64RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "hello world\n\x01\xff"}) {
    std::string enc = base64_encode(s), dec;
    ASSERT_TRUE(base64_decode(enc, dec)) << enc;
    EXPECT_EQ(dec, s);
  }
  EXPECT_EQ(base64_encode(std::string_view("hello")), "aGVsbG8=");
  std::string out;
  EXPECT_FALSE(base64_decode("a$==", out));
  EXPECT_FALSE(base64_decode("abc", out));
}

TEST(Files, AtomicWriteReplacesContentAndLeavesNoTemporaries) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("wm-files-" + random_token(4));
  fs::create_directories(dir);
  fs::path f = dir / "x.yml";
  ASSERT_TRUE(write_file_atomic(f, "one").ok());
  ASSERT_TRUE(write_file_atomic(f, "two").ok());
  auto r = read_file(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "two");
  size_t entries = 0;
  for (auto& e : fs::directory_iterator(dir)) { (void)e; ++entries; }
  EXPECT_EQ(entries, 1u);
  auto missing = read_file(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  auto big = read_file(f, 2);
  EXPECT_FALSE(big.ok());
  fs::remove_all(dir);
}
