#include "mcp/input_sink.hpp"

#include <fmt/format.h>

namespace wasimancer::mcp {

std::variant<json::object, RpcError> InputCollector::parse_input_responses(const json::object& params) {
  auto* r = params.if_contains("inputResponses");
  if (!r) return json::object{};
  if (!r->is_object()) return RpcError{kInvalidParams, "Invalid params: inputResponses must be an object", std::nullopt};
  for (const auto& kv : r->as_object()) {
    if (!kv.value().is_object()) {
      return RpcError{kInvalidParams, fmt::format("Invalid params: inputResponses[\"{}\"] must be an object (the client's result)",
                                                  std::string(kv.key())),
                      std::nullopt};
    }
  }
  return r->as_object();
}

std::optional<json::value> InputCollector::ask_keyed(const std::string& key, std::string_view method, std::string_view capability,
                                                     json::object params) {
  if (auto* a = answers_.if_contains(key)) {
    used_[key] = *a;
    return *a;
  }
  if (!caps_.contains(capability)) return std::nullopt;
  pending_[key] = json::object{{"method", method}, {"params", std::move(params)}};
  return std::nullopt;
}

Result<std::string> InputCollector::ask(std::string_view method, std::string_view capability, std::string_view params_json) {
  ++ordinal_;
  boost::system::error_code ec;
  json::value params = json::parse(params_json, ec);
  if (ec || !params.is_object()) return Error(ErrorKind::HostError, fmt::format("{}: the plugin's request is not a JSON object", method));
  auto& p = params.as_object();
  std::string key = fmt::format("{}-{}", method.substr(0, method.find('/')), ordinal_);
  if (auto* k = p.if_contains("inputKey")) {
    if (k->is_string() && !k->as_string().empty()) key = std::string(k->as_string());
    p.erase("inputKey");
  }
  if (!caps_.contains(capability)) return Error(ErrorKind::HostError, fmt::format("the client does not support {}", capability));
  auto answer = ask_keyed(key, method, capability, std::move(p));
  if (!answer) return Error(ErrorKind::HostError, fmt::format("{} \"{}\": waiting for the client's answer", method, key));
  return json::serialize(*answer);
}

}  // namespace wasimancer::mcp
