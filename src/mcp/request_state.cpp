#include "mcp/request_state.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/log.hpp"

namespace wasimancer::mcp {

namespace json = boost::json;

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
RpcError refused(std::string why) { return RpcError{kInvalidParams, "Invalid requestState: " + why, std::nullopt}; }
}  // namespace

RequestStateCodec::RequestStateCodec(std::string key, std::chrono::seconds ttl, size_t max_bytes, size_t max_used_nonces)
    : ttl_(ttl), max_bytes_(max_bytes), max_used_(max_used_nonces) {
  if (key.empty()) {
    key_ = random_token(32);
    log().debug("requestState key: random for this process (set WASIMANCER_STATE_KEY to share one between replicas)");
  } else {
    key_ = std::move(key);
  }
}

std::string RequestStateCodec::mac(std::string_view data) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return base64_encode(std::span<const uint8_t>(out, len));
}

std::string RequestStateCodec::hash_arguments(const json::value& arguments) { return sha256_hex(json::serialize(arguments)); }

std::variant<std::string, RpcError> RequestStateCodec::encode(const RequestState& s) {
  json::object payload{{"v", 1},
                       {"m", s.method},
                       {"t", s.target},
                       {"h", s.arguments_hash},
                       {"a", s.answers},
                       {"exp", now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(ttl_).count()},
                       {"n", random_token(16)}};
  std::string body = base64_encode(json::serialize(payload));
  std::string text = body + "." + mac(body);
  if (text.size() > max_bytes_) {
    return RpcError{kInternalError,
                    fmt::format("the answers collected for this request make a requestState of {} bytes, over the limit of {} bytes",
                                text.size(), max_bytes_),
                    std::nullopt};
  }
  return text;
}

std::variant<RequestState, RpcError> RequestStateCodec::decode(std::string_view text, const RequestState& expected) {
  if (text.size() > max_bytes_) return refused(fmt::format("it is larger than the limit of {} bytes", max_bytes_));
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return refused("integrity check failed (the state was altered or is not ours)");
  std::string_view body = text.substr(0, dot), sig = text.substr(dot + 1);
  if (!constant_time_equal(sig, mac(body))) return refused("integrity check failed (the state was altered or is not ours)");
  std::string raw;
  if (!base64_decode(body, raw)) return refused("integrity check failed (malformed)");
  boost::system::error_code ec;
  json::value v = json::parse(raw, ec);
  if (ec || !v.is_object()) return refused("integrity check failed (malformed)");
  const auto& o = v.as_object();
  auto str = [&](std::string_view k) -> std::string {
    auto* x = o.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  auto* exp = o.if_contains("exp");
  auto* answers = o.if_contains("a");
  if (!exp || !exp->is_int64() || !answers || !answers->is_object()) return refused("integrity check failed (malformed)");
  int64_t now = now_ms();
  if (exp->as_int64() < now) return refused("it has expired; send the request again without it");
  RequestState s{str("m"), str("t"), str("h"), answers->as_object()};
  if (s.method != expected.method || s.target != expected.target || s.arguments_hash != expected.arguments_hash) {
    return refused(fmt::format("it belongs to another request ({} {})", s.method, s.target));
  }
  std::string nonce = str("n");
  {
    std::lock_guard lock(mu_);
    forget_expired(now);
    if (!used_.emplace(nonce, exp->as_int64()).second) return refused("it was already used (each state resumes a request once)");
  }
  return s;
}

void RequestStateCodec::forget_expired(int64_t now) {
  if (used_.size() < max_used_) return;
  std::erase_if(used_, [now](const auto& kv) { return kv.second < now; });
  // Still full: forget the states that expire first (a replay of those stays possible only
  // until they expire).
  while (used_.size() >= max_used_) {
    auto oldest = used_.begin();
    for (auto it = used_.begin(); it != used_.end(); ++it) {
      if (it->second < oldest->second) oldest = it;
    }
    used_.erase(oldest);
  }
}

}  // namespace wasimancer::mcp
