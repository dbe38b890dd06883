// mcp/input_sink.hpp: answers a plugin's client requests (elicitation, sampling, roots) from
// answers the client already gave, for 2026-07-28 multi-round-trip requests and tasks.
//
// Decision: a suspended call is RE-RUN with the answers. Each round runs the plugin from the
// start; its host calls that ask the client are answered in order from the answers collected
// so far (matched by key: the request's "inputKey" member, or "<method>-<n>" for the n-th such
// call of the run). A host call with no answer yet returns "no result" (0) to the plugin and is
// recorded; when the run ends with recorded requests, its output is discarded and the client
// gets them all in one InputRequiredResult (or the task waits for them), then the next round
// runs again from the start. Plugins must therefore be deterministic up to their host calls and
// should return as soon as an input they need is missing (docs/host-abi.md).
//
// Ownership: one per run, owned by the caller. Thread safety: used by one call's thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json.hpp>

#include "core/error.hpp"
#include "mcp/jsonrpc.hpp"

namespace wasimancer::mcp {

class InputCollector {
 public:
  InputCollector(json::object answers, json::object client_capabilities)
      : answers_(std::move(answers)), caps_(std::move(client_capabilities)) {}

  // A plugin's request: `params_json` is what the plugin passed (params of `method`). Returns
  // the client's answer (JSON text) or an error (the plugin gets 0): not answered yet (and
  // recorded), or the client lacks `capability` (not recorded: the client could never answer).
  Result<std::string> ask(std::string_view method, std::string_view capability, std::string_view params_json);
  // Same with a fixed key and parsed params (roots before the call).
  std::optional<json::value> ask_keyed(const std::string& key, std::string_view method, std::string_view capability,
                                       json::object params);

  bool pending() const { return !pending_.empty(); }
  const json::object& input_requests() const { return pending_; }
  const json::object& used_answers() const { return used_; }

  // inputResponses as the client sent them: an object of objects (-32602 otherwise).
  static std::variant<json::object, RpcError> parse_input_responses(const json::object& params);

 private:
  json::object answers_;
  json::object caps_;
  json::object pending_;
  json::object used_;
  int ordinal_ = 0;
};

}  // namespace wasimancer::mcp
