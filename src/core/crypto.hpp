// core/crypto.hpp: SHA-256, secure random bytes and tokens, constant-time comparison (OpenSSL).
//
// Thread safety: all functions are safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace wasimancer {

std::string sha256_hex(std::span<const uint8_t> data);
std::string sha256_hex(std::string_view data);

// Fills buf from the OS CSPRNG. Returns false only if the generator fails.
bool random_bytes(std::span<uint8_t> buf);

// A random token of `bytes` bytes, hex-encoded (visible ASCII, safe in headers).
std::string random_token(size_t bytes = 32);

// Compares in time independent of where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// A secret held as its SHA-256 digest, for checking presented values against it many times:
// matches(x) is constant_time_equal(x, secret), hashing only x (the secret's digest is computed
// once; hashing both sides of every request's token was ~1.7% of an in-process call's CPU).
// A value; matches() is safe from any thread.
class SecretDigest {
 public:
  explicit SecretDigest(std::string_view secret);
  bool matches(std::string_view presented) const;

 private:
  std::array<uint8_t, 32> digest_{};
  size_t size_ = 0;
};

std::string base64_encode(std::span<const uint8_t> data);
std::string base64_encode(std::string_view data);
// Returns false on malformed input.
bool base64_decode(std::string_view text, std::string& out);

}  // namespace wasimancer
