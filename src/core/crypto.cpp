#include "core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <sys/random.h>

namespace wasimancer {

namespace {
std::string to_hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  return out;
}

// SHA-256 with the digest fetched once and a context per thread: OpenSSL 3's one-shot SHA256()
// looks the algorithm up by name on every call (a lock and string compares), which showed up
// at 4% of the server's CPU when every request's token was compared.
void fast_sha256(std::string_view data, uint8_t out[SHA256_DIGEST_LENGTH]) {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct Ctx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(p); }
  };
  thread_local Ctx ctx;
  unsigned int n = 0;
  if (md && ctx.p && EVP_DigestInit_ex(ctx.p, md, nullptr) == 1 && EVP_DigestUpdate(ctx.p, data.data(), data.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.p, out, &n) == 1 && n == SHA256_DIGEST_LENGTH) {
    return;
  }
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), out);
}
}  // namespace

std::string sha256_hex(std::span<const uint8_t> data) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  fast_sha256(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), digest);
  return to_hex(digest, sizeof digest);
}

std::string sha256_hex(std::string_view data) {
  return sha256_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

bool random_bytes(std::span<uint8_t> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = getrandom(buf.data() + done, buf.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return RAND_bytes(buf.data() + done, static_cast<int>(buf.size() - done)) == 1;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string random_token(size_t bytes) {
  std::string raw(bytes, '\0');
  random_bytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(raw.data()), raw.size()));
  return to_hex(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
}


bool constant_time_equal(std::string_view a, std::string_view b) {
  // Compare digests so the time depends on neither the length nor the content of the secret.
  uint8_t da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
  fast_sha256(a, da);
  fast_sha256(b, db);
  return CRYPTO_memcmp(da, db, sizeof da) == 0 && a.size() == b.size();
}

SecretDigest::SecretDigest(std::string_view secret) : size_(secret.size()) {
  static_assert(sizeof digest_ == SHA256_DIGEST_LENGTH);
  fast_sha256(secret, digest_.data());
}

bool SecretDigest::matches(std::string_view presented) const {
  uint8_t d[SHA256_DIGEST_LENGTH];
  fast_sha256(presented, d);
  return CRYPTO_memcmp(d, digest_.data(), sizeof d) == 0 && presented.size() == size_;
}

std::string base64_encode(std::span<const uint8_t> data) {
  if (data.empty()) return {};
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64_encode(std::string_view data) {
  return base64_encode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!ok) return false;
    clean.push_back(c);
  }
  if (clean.empty()) return true;
  if (clean.size() % 4 != 0) return false;
  std::string buf(clean.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return false;
  size_t pad = 0;
  if (clean.size() >= 1 && clean[clean.size() - 1] == '=') ++pad;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') ++pad;
  buf.resize(static_cast<size_t>(n) - pad);
  out = std::move(buf);
  return true;
}

}  // namespace wasimancer
