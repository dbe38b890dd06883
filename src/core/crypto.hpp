// core/crypto.hpp: SHA-256, secure random bytes and tokens, constant-time comparison (OpenSSL).
//
// Thread safety: all functions are safe from any thread.
#pragma once

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

std::string base64_encode(std::span<const uint8_t> data);
std::string base64_encode(std::string_view data);
// Returns false on malformed input.
bool base64_decode(std::string_view text, std::string& out);

}  // namespace wasimancer
