// mcp/request_state.hpp: the requestState of 2026-07-28 multi-round-trip requests.
//
// The server keeps nothing between rounds: what it needs to resume travels to the client and
// back, integrity-protected with HMAC-SHA256 under a server key (WASIMANCER_STATE_KEY; replicas
// behind one balancer share it, so any of them resumes any state; without it a random key per
// process). A state names the request it belongs to (method, tool or prompt name, a hash of
// the arguments), carries the answers collected so far, an expiry and a nonce. A state is
// refused when it was altered, has expired, belongs to another request, is larger than the
// limit, or was already used (nonces of used states are remembered until they expire, in a
// bounded set; across replicas the expiry bounds a replay).
//
// Ownership: owned by the Server. Thread safety: every method is safe from any thread.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <variant>

#include <boost/json.hpp>

#include "mcp/jsonrpc.hpp"

namespace wasimancer::mcp {

struct RequestState {
  std::string method;           // tools/call, prompts/get
  std::string target;           // the tool or prompt name
  std::string arguments_hash;   // SHA-256 of the serialized arguments
  boost::json::object answers;  // input key -> the client's result
};

class RequestStateCodec {
 public:
  // `key`: empty for a random per-process key.
  RequestStateCodec(std::string key, std::chrono::seconds ttl, size_t max_bytes, size_t max_used_nonces = 100000);

  // The opaque string for the client; an error (-32603) if it would exceed the size limit.
  std::variant<std::string, RpcError> encode(const RequestState& state);
  // Verifies and opens a state the client sent back, for the request it must belong to, and
  // marks it used. Errors are -32602 and say why (tampered, expired, replayed, too large, other
  // request).
  std::variant<RequestState, RpcError> decode(std::string_view text, const RequestState& expected);

  static std::string hash_arguments(const boost::json::value& arguments);

 private:
  std::string mac(std::string_view data) const;
  void forget_expired(int64_t now_ms);

  std::string key_;
  std::chrono::seconds ttl_;
  size_t max_bytes_;
  size_t max_used_;
  std::mutex mu_;
  std::map<std::string, int64_t> used_;  // nonce -> expiry (ms since the epoch)
};

}  // namespace wasimancer::mcp
