// core/signature: minisign keys, signatures and verification (libsodium); registry/oci
// references and credentials; registry/provenance's sha256 pin and signature rules.
// Keys made by Debian's `minisign` are checked in tests/integration/dist_oci.sh.
#include <gtest/gtest.h>
#include <sodium.h>

#include "core/crypto.hpp"
#include "core/signature.hpp"
#include "registry/oci.hpp"
#include "registry/provenance.hpp"

using namespace wasimancer;
namespace json = boost::json;

namespace {

// A fresh key pair in minisign's formats (unencrypted secret key, as `minisign -G -W` writes).
struct KeyPair {
  std::string pub_text, sec_text;
};

KeyPair make_keys() {
  EXPECT_GE(sodium_init(), 0);
  unsigned char pk[32], sk[64], id[8];
  crypto_sign_keypair(pk, sk);
  randombytes_buf(id, sizeof id);
  std::string pub = "Ed" + std::string(reinterpret_cast<char*>(id), 8) + std::string(reinterpret_cast<char*>(pk), 32);
  std::string sec = "Ed";
  sec += std::string(2, '\0');
  sec += "B2";
  sec += std::string(32 + 8 + 8, '\0');
  std::string keynum = std::string(reinterpret_cast<char*>(id), 8) + std::string(reinterpret_cast<char*>(sk), 64);
  unsigned char chk[32];
  std::string in = "Ed" + keynum;
  crypto_generichash(chk, sizeof chk, reinterpret_cast<const unsigned char*>(in.data()), in.size(), nullptr, 0);
  sec += keynum + std::string(reinterpret_cast<char*>(chk), 32);
  return {"untrusted comment: minisign public key\n" + base64_encode(pub) + "\n",
          "untrusted comment: minisign encrypted secret key\n" + base64_encode(sec) + "\n"};
}

}  // namespace

TEST(Signature, SignVerifyRoundTripAndTamper) {
  auto kp = make_keys();
  auto pub = parse_minisign_public_key(kp.pub_text);
  ASSERT_TRUE(pub) << pub.error().message;
  auto sec = parse_minisign_secret_key(kp.sec_text, std::nullopt);
  ASSERT_TRUE(sec) << sec.error().message;
  EXPECT_EQ(sec->key_id, pub->key_id);
  std::string msg("\0asm module bytes", 17);
  std::string sig = minisign_sign(*sec, msg, "timestamp:1\tfile:x.wasm");
  auto parsed = parse_minisign_signature(sig);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->prehashed);
  EXPECT_EQ(parsed->trusted_comment, "timestamp:1\tfile:x.wasm");
  EXPECT_TRUE(minisign_verify(*pub, *parsed, msg));
  EXPECT_FALSE(minisign_verify(*pub, *parsed, msg + "x"));  // altered module

  // An altered trusted comment breaks the global signature.
  std::string forged = sig;
  forged.replace(forged.find("file:x.wasm"), 11, "file:y.wasm");
  auto f = parse_minisign_signature(forged);
  ASSERT_TRUE(f);
  EXPECT_FALSE(minisign_verify(*pub, *f, msg));

  auto v = verify_with_any({*pub}, sig, msg);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->key.id_hex(), pub->id_hex());
  auto bad = verify_with_any({*pub}, sig, msg + "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::PermissionDenied);
  EXPECT_NE(bad.error().message.find(pub->id_hex()), std::string::npos);
}

TEST(Signature, UntrustedKeyIsNamed) {
  auto a = make_keys(), b = make_keys();
  auto pub_a = parse_minisign_public_key(a.pub_text);
  auto sec_b = parse_minisign_secret_key(b.sec_text, std::nullopt);
  auto pub_b = parse_minisign_public_key(b.pub_text);
  ASSERT_TRUE(pub_a && sec_b && pub_b);
  std::string sig = minisign_sign(*sec_b, "m", "c");
  auto r = verify_with_any({*pub_a}, sig, "m");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::PermissionDenied);
  EXPECT_NE(r.error().message.find(pub_b->id_hex()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(pub_a->id_hex()), std::string::npos) << r.error().message;
  EXPECT_TRUE(verify_with_any({*pub_a, *pub_b}, sig, "m"));
}

TEST(Signature, MalformedInputsAreErrors) {
  EXPECT_FALSE(parse_minisign_public_key("untrusted comment: x\nnot base64!\n"));
  EXPECT_FALSE(parse_minisign_public_key(base64_encode(std::string(42, 'x'))));
  EXPECT_FALSE(parse_minisign_signature("hello"));
  EXPECT_FALSE(parse_minisign_signature("untrusted comment: a\nAAAA\ntrusted comment: b\nAAAA\n"));
  EXPECT_FALSE(parse_trusted_keys("# nothing\n\n"));
  auto kp = make_keys();
  auto keys = parse_trusted_keys("# ours\n" + kp.pub_text + "\n" + make_keys().pub_text);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->size(), 2u);
  auto broken = parse_trusted_keys(kp.pub_text + "garbage\n");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("line 3"), std::string::npos) << broken.error().message;
  // A damaged secret key fails its checksum.
  std::string raw;
  ASSERT_TRUE(base64_decode(kp.sec_text.substr(kp.sec_text.find('\n') + 1), raw));
  raw[60] ^= 1;  // the key id: the checksum no longer matches
  EXPECT_FALSE(parse_minisign_secret_key(base64_encode(raw), std::nullopt));
}

TEST(Oci, References) {
  auto r = registry::parse_oci_reference("127.0.0.1:5000/org/echo:v1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->registry, "127.0.0.1:5000");
  EXPECT_EQ(r->host(), "127.0.0.1");
  EXPECT_EQ(r->repository, "org/echo");
  EXPECT_EQ(r->tag, "v1");
  auto d = registry::parse_oci_reference("oci://ghcr.io/tuananh/time-plugin");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->tag, "latest");
  std::string hex(64, 'a');
  auto g = registry::parse_oci_reference("localhost:5000/x@sha256:" + hex);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->digest, "sha256:" + hex);
  EXPECT_TRUE(g->tag.empty());
  EXPECT_FALSE(registry::parse_oci_reference("echo:v1"));                      // no registry host
  EXPECT_FALSE(registry::parse_oci_reference("registry.io/Upper/case"));       // repository rules
  EXPECT_FALSE(registry::parse_oci_reference("registry.io/a/../b"));
  EXPECT_FALSE(registry::parse_oci_reference("registry.io/a@sha256:abc"));     // short digest
  EXPECT_FALSE(registry::parse_oci_reference("registry.io/a:t@g"));
}

TEST(Oci, PullRefusesRegistriesNotAllowed) {
  registry::OciClient client(registry::OciSettings{});
  auto r = client.pull(*registry::parse_oci_reference("127.0.0.1:1/x:y"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::PermissionDenied);
  EXPECT_NE(r.error().message.find("WASIMANCER_OCI_REGISTRIES"), std::string::npos);
}

TEST(Oci, Credentials) {
  auto c = registry::parse_oci_credentials(R"({"auths":{"reg.example:5000":{"auth":")" + base64_encode("u:p") +
                                           R"("},"other.example":{"username":"a","password":"b"}}})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->at("reg.example:5000"), "u:p");
  EXPECT_EQ(c->at("other.example"), "a:b");
  EXPECT_FALSE(registry::parse_oci_credentials("[]"));
  EXPECT_FALSE(registry::parse_oci_credentials(R"({"auths":{"x":{"auth":"bm9jb2xvbg=="}}})"));  // "nocolon"
}

TEST(Provenance, Sha256Pin) {
  registry::Provenance p;
  std::string wasm = "module";
  json::object entry{{"name", "x"}, {"sha256", "SHA256:" + sha256_hex(wasm)}};
  ASSERT_TRUE(check_module(p, entry, wasm, std::nullopt));
  EXPECT_EQ(entry["sha256"].as_string(), sha256_hex(wasm));  // normalised
  json::object wrong{{"name", "x"}, {"sha256", sha256_hex("other")}};
  auto r = check_module(p, wrong, wasm, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::InvalidArgument);
  EXPECT_NE(r.error().message.find(sha256_hex(wasm)), std::string::npos);
  json::object malformed{{"name", "x"}, {"sha256", "abc"}};
  EXPECT_FALSE(check_module(p, malformed, wasm, std::nullopt));
}

TEST(Provenance, SignaturesRequiredWithTrustedKeys) {
  auto kp = make_keys();
  registry::Provenance p;
  p.trusted_keys = {*parse_minisign_public_key(kp.pub_text)};
  auto sec = parse_minisign_secret_key(kp.sec_text, std::nullopt);
  std::string wasm = "module";
  json::object unsigned_entry{{"name", "x"}, {"signedBy", "forged"}};
  auto r = check_module(p, unsigned_entry, wasm, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::PermissionDenied);
  EXPECT_NE(r.error().message.find(p.trusted_keys[0].id_hex()), std::string::npos);
  EXPECT_FALSE(unsigned_entry.contains("signedBy"));  // a client's claim is never kept

  std::string sig = minisign_sign(*sec, wasm, "c");
  json::object signed_entry{{"name", "x"}};
  ASSERT_TRUE(check_module(p, signed_entry, wasm, sig));
  EXPECT_EQ(signed_entry["signedBy"].as_string(), p.trusted_keys[0].id_hex());
  EXPECT_EQ(signed_entry["signature"].as_string(), sig);
  // The recorded signature is checked again when the entry is loaded later.
  json::object reloaded = signed_entry;
  EXPECT_TRUE(check_module(p, reloaded, wasm, std::nullopt));
  EXPECT_FALSE(check_module(p, reloaded, wasm + "!", std::nullopt));

  // Without trusted keys a signature is kept, not checked, and no signedBy is written.
  registry::Provenance open;
  json::object e{{"name", "x"}};
  ASSERT_TRUE(check_module(open, e, wasm, sig));
  EXPECT_FALSE(e.contains("signedBy"));
}

TEST(Signature, DamagedSecretKeyOfUnencryptedKeyIsRefused) {
  // `minisign -W` keys have a zero checksum: damage to the key itself is caught by checking the
  // key pair (the secret key ends with its public key).
  auto kp = make_keys();
  std::string raw;
  ASSERT_TRUE(base64_decode(kp.sec_text.substr(kp.sec_text.find('\n') + 1), raw));
  std::fill(raw.end() - 32, raw.end(), '\0');
  EXPECT_TRUE(parse_minisign_secret_key(base64_encode(raw), std::nullopt));
  raw[54 + 8 + 3] ^= 1;  // a byte of the seed
  EXPECT_FALSE(parse_minisign_secret_key(base64_encode(raw), std::nullopt));
}
