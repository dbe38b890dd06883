#include "core/signature.hpp"

#include <sodium.h>

#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "core/crypto.hpp"

namespace wasimancer {

namespace {

void init_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no usable random source: nothing can be trusted
  });
}

// As minisign prints key ids: the 8 bytes read little-endian, upper-case hex, no leading zeros.
std::string hex_le(const std::array<uint8_t, 8>& id) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | id[static_cast<size_t>(i)];
  return fmt::format("{:X}", v);
}

// The lines of a text, without their line ends.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr std::string_view kUntrusted = "untrusted comment:";
constexpr std::string_view kTrusted = "trusted comment: ";

Result<MinisignPublicKey> key_from_base64(std::string_view b64) {
  std::string raw;
  if (!base64_decode(b64, raw) || raw.size() != 42 || raw.compare(0, 2, "Ed") != 0) {
    return Error(ErrorKind::InvalidArgument, "not a minisign public key (expected the base64 line of a .pub file)");
  }
  MinisignPublicKey k;
  std::memcpy(k.key_id.data(), raw.data() + 2, 8);
  std::memcpy(k.key.data(), raw.data() + 10, 32);
  return k;
}

}  // namespace

std::string MinisignPublicKey::id_hex() const { return hex_le(key_id); }
std::string MinisignSignature::key_id_hex() const { return hex_le(key_id); }

std::string key_ids(const std::vector<MinisignPublicKey>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k.id_hex();
  return out;
}

Result<MinisignPublicKey> parse_minisign_public_key(std::string_view text) {
  for (auto line : lines_of(text)) {
    line = trim(line);
    if (line.empty() || line.rfind(kUntrusted, 0) == 0 || line[0] == '#') continue;
    return key_from_base64(line);
  }
  return Error(ErrorKind::InvalidArgument, "no minisign public key found");
}

Result<std::vector<MinisignPublicKey>> parse_trusted_keys(std::string_view text) {
  std::vector<MinisignPublicKey> keys;
  size_t n = 0;
  for (auto line : lines_of(text)) {
    ++n;
    line = trim(line);
    if (line.empty() || line.rfind(kUntrusted, 0) == 0 || line[0] == '#') continue;
    auto k = key_from_base64(line);
    if (!k) return Error(ErrorKind::InvalidArgument, fmt::format("line {}: {}", n, k.error().message));
    keys.push_back(*k);
  }
  if (keys.empty()) return Error(ErrorKind::InvalidArgument, "no minisign public key in the file");
  return keys;
}

Result<MinisignSignature> parse_minisign_signature(std::string_view text) {
  auto bad = [](std::string_view why) { return Error(ErrorKind::InvalidArgument, fmt::format("not a minisign signature: {}", why)); };
  if (text.size() > 64 * 1024) return bad("larger than 64 KiB");
  auto lines = lines_of(text);
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  if (lines.size() != 4) return bad("expected 4 lines (untrusted comment, signature, trusted comment, global signature)");
  if (lines[0].rfind(kUntrusted, 0) != 0) return bad("the first line is not an untrusted comment");
  std::string raw;
  if (!base64_decode(trim(lines[1]), raw) || raw.size() != 74) return bad("the second line is not a signature");
  MinisignSignature s;
  if (raw.compare(0, 2, "ED") == 0) {
    s.prehashed = true;
  } else if (raw.compare(0, 2, "Ed") == 0) {
    s.prehashed = false;
  } else {
    return bad("unknown signature algorithm");
  }
  std::memcpy(s.key_id.data(), raw.data() + 2, 8);
  std::memcpy(s.sig.data(), raw.data() + 10, 64);
  if (lines[2].rfind(kTrusted, 0) != 0) return bad("the third line is not a trusted comment");
  s.trusted_comment = std::string(lines[2].substr(kTrusted.size()));
  if (!base64_decode(trim(lines[3]), raw) || raw.size() != 64) return bad("the fourth line is not a global signature");
  std::memcpy(s.global_sig.data(), raw.data(), 64);
  return s;
}

bool minisign_verify(const MinisignPublicKey& key, const MinisignSignature& sig, std::string_view message) {
  init_sodium();
  if (key.key_id != sig.key_id) return false;
  int rc;
  if (sig.prehashed) {
    unsigned char h[crypto_generichash_BYTES_MAX];
    crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(message.data()), message.size(), nullptr, 0);
    rc = crypto_sign_verify_detached(sig.sig.data(), h, sizeof h, key.key.data());
  } else {
    rc = crypto_sign_verify_detached(sig.sig.data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     key.key.data());
  }
  if (rc != 0) return false;
  std::string global(reinterpret_cast<const char*>(sig.sig.data()), 64);
  global += sig.trusted_comment;
  return crypto_sign_verify_detached(sig.global_sig.data(), reinterpret_cast<const unsigned char*>(global.data()), global.size(),
                                     key.key.data()) == 0;
}

Result<VerifiedSignature> verify_with_any(const std::vector<MinisignPublicKey>& keys, std::string_view signature_text,
                                          std::string_view message) {
  auto sig = parse_minisign_signature(signature_text);
  if (!sig) {
    return Error(ErrorKind::PermissionDenied,
                 fmt::format("the signature is not valid: {} (expected a minisign signature by key {})", sig.error().message, key_ids(keys)));
  }
  for (const auto& k : keys) {
    if (k.key_id != sig->key_id) continue;
    if (minisign_verify(k, *sig, message)) return VerifiedSignature{k, sig->trusted_comment};
    return Error(ErrorKind::PermissionDenied,
                 fmt::format("the signature by key {} does not match the module (altered module or signature)", k.id_hex()));
  }
  return Error(ErrorKind::PermissionDenied, fmt::format("the module is signed by key {}, which is not trusted (trusted: {})",
                                                        sig->key_id_hex(), key_ids(keys)));
}

Result<MinisignSecretKey> parse_minisign_secret_key(std::string_view text, std::optional<std::string_view> password) {
  init_sodium();
  std::string raw;
  bool found = false;
  for (auto line : lines_of(text)) {
    line = trim(line);
    if (line.empty() || line.rfind(kUntrusted, 0) == 0) continue;
    found = base64_decode(line, raw);
    break;
  }
  // sig_alg 2, kdf_alg 2, chk_alg 2, salt 32, opslimit 8, memlimit 8, keynum_sk 104
  constexpr size_t kSize = 2 + 2 + 2 + 32 + 8 + 8 + 104;
  if (!found || raw.size() != kSize || raw.compare(0, 2, "Ed") != 0 || raw.compare(4, 2, "B2") != 0) {
    return Error(ErrorKind::InvalidArgument, "not a minisign secret key");
  }
  auto* p = reinterpret_cast<unsigned char*>(raw.data());
  unsigned char* keynum_sk = p + 54;
  if (raw.compare(2, 2, "Sc") == 0) {
    if (!password) return Error(ErrorKind::InvalidArgument, "the secret key is encrypted: give its password (WASIMANCER_SIGN_PASSWORD)");
    uint64_t ops = 0, mem = 0;
    for (int i = 7; i >= 0; --i) ops = (ops << 8) | p[38 + i];
    for (int i = 7; i >= 0; --i) mem = (mem << 8) | p[46 + i];
    unsigned char stream[104];
    if (crypto_pwhash_scryptsalsa208sha256(stream, sizeof stream, password->data(), password->size(), p + 6, ops, mem) != 0) {
      return Error(ErrorKind::Internal, "scrypt failed (out of memory?)");
    }
    for (size_t i = 0; i < sizeof stream; ++i) keynum_sk[i] ^= stream[i];
    sodium_memzero(stream, sizeof stream);
  } else if (raw[2] != '\0' || raw[3] != '\0') {
    return Error(ErrorKind::InvalidArgument, "unknown key derivation in the secret key");
  }
  unsigned char chk[32];
  unsigned char in[2 + 8 + 64];
  std::memcpy(in, p, 2);
  std::memcpy(in + 2, keynum_sk, 72);
  crypto_generichash(chk, sizeof chk, in, sizeof in, nullptr, 0);
  sodium_memzero(in, sizeof in);
  // `minisign -G -W` (no password) leaves the checksum zero; the key pair is checked below.
  static const unsigned char zero[32] = {};
  bool unencrypted = raw[2] == '\0';
  bool chk_ok = sodium_memcmp(chk, keynum_sk + 72, 32) == 0 || (unencrypted && sodium_memcmp(zero, keynum_sk + 72, 32) == 0);
  unsigned char pk[32], sk[64];
  crypto_sign_seed_keypair(pk, sk, keynum_sk + 8);
  bool pair_ok = sodium_memcmp(pk, keynum_sk + 8 + 32, 32) == 0;
  sodium_memzero(sk, sizeof sk);
  if (!chk_ok || !pair_ok) {
    sodium_memzero(p, raw.size());
    return Error(ErrorKind::InvalidArgument, "wrong password for the secret key (or a damaged key)");
  }
  MinisignSecretKey k;
  std::memcpy(k.key_id.data(), keynum_sk, 8);
  std::memcpy(k.key.data(), keynum_sk + 8, 64);
  sodium_memzero(p, raw.size());
  return k;
}

std::string minisign_sign(const MinisignSecretKey& key, std::string_view message, std::string_view trusted_comment,
                          std::string_view untrusted_comment) {
  init_sodium();
  unsigned char h[crypto_generichash_BYTES_MAX];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(message.data()), message.size(), nullptr, 0);
  std::string sig_block = "ED";
  sig_block.append(reinterpret_cast<const char*>(key.key_id.data()), 8);
  unsigned char sig[64];
  crypto_sign_detached(sig, nullptr, h, sizeof h, key.key.data());
  sig_block.append(reinterpret_cast<const char*>(sig), 64);
  std::string global(reinterpret_cast<const char*>(sig), 64);
  global += trusted_comment;
  unsigned char gsig[64];
  crypto_sign_detached(gsig, nullptr, reinterpret_cast<const unsigned char*>(global.data()), global.size(), key.key.data());
  return fmt::format("untrusted comment: {}\n{}\ntrusted comment: {}\n{}\n", untrusted_comment, base64_encode(sig_block), trusted_comment,
                     base64_encode(std::string_view(reinterpret_cast<const char*>(gsig), 64)));
}

}  // namespace wasimancer
