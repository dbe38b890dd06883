// core/signature.hpp: minisign signatures (Ed25519, libsodium): public keys, trusted key sets,
// signature files, verification and signing.
//
// Formats (those of the `minisign` tool):
//   public key   "untrusted comment: ...\n" + base64("Ed" | key id (8, little-endian) | pk (32))
//   secret key   "untrusted comment: ...\n" + base64("Ed" | kdf "Sc" or "\0\0" | "B2" | salt (32) |
//                opslimit (8) | memlimit (8) | key id (8) | sk (64) | checksum (32)), the last 104
//                bytes XORed with scrypt(password) when the kdf is "Sc"
//   signature    "untrusted comment: ...\n" + base64("ED" | key id | sig over BLAKE2b-512(message))
//                ("Ed": sig over the message itself, legacy) + "\ntrusted comment: TEXT\n" +
//                base64(global sig over sig | TEXT)
// Both signatures must verify: the trusted comment is authenticated too.
//
// Thread safety: values and pure functions; safe from any thread (libsodium is initialised once).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace wasimancer {

struct MinisignPublicKey {
  std::array<uint8_t, 8> key_id{};
  std::array<uint8_t, 32> key{};
  // The key id as minisign prints it: upper-case hex of the id read little-endian, no leading zeros.
  std::string id_hex() const;
};

struct MinisignSignature {
  bool prehashed = true;  // "ED"
  std::array<uint8_t, 8> key_id{};
  std::array<uint8_t, 64> sig{};
  std::string trusted_comment;
  std::array<uint8_t, 64> global_sig{};
  std::string key_id_hex() const;
};

// One key: the base64 line alone or a whole .pub file. InvalidArgument when malformed.
Result<MinisignPublicKey> parse_minisign_public_key(std::string_view text);

// Every key of a file of minisign public keys (one base64 line each; lines starting with
// "untrusted comment:" or '#' and blank lines ignored). InvalidArgument names the bad line; a
// file with no key is an error too.
Result<std::vector<MinisignPublicKey>> parse_trusted_keys(std::string_view text);

// A .minisig file's text. InvalidArgument when malformed.
Result<MinisignSignature> parse_minisign_signature(std::string_view text);

// Whether `sig` is a valid signature of `message` by `key` (both the signature and the global
// signature over the trusted comment). Key ids must match.
bool minisign_verify(const MinisignPublicKey& key, const MinisignSignature& sig, std::string_view message);

// Which of `keys` signed `message` with `signature_text`: the key, or an error saying why not
// (InvalidArgument: not a signature; PermissionDenied-like cases are reported as HostError with
// a message naming the key ids expected).
struct VerifiedSignature {
  MinisignPublicKey key;
  std::string trusted_comment;
};
Result<VerifiedSignature> verify_with_any(const std::vector<MinisignPublicKey>& keys, std::string_view signature_text,
                                          std::string_view message);

// A minisign secret key file; `password` is needed when the key is encrypted ("Sc").
struct MinisignSecretKey {
  std::array<uint8_t, 8> key_id{};
  std::array<uint8_t, 64> key{};
};
Result<MinisignSecretKey> parse_minisign_secret_key(std::string_view text, std::optional<std::string_view> password);

// A .minisig text (prehashed "ED" signature) of `message`.
std::string minisign_sign(const MinisignSecretKey& key, std::string_view message, std::string_view trusted_comment,
                          std::string_view untrusted_comment = "signature from wasimancer");

// Lists key ids for messages: "A1B2..., C3D4...".
std::string key_ids(const std::vector<MinisignPublicKey>& keys);

}  // namespace wasimancer
