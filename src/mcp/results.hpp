// mcp/results.hpp: helpers every feature uses to read params and build results: pagination,
// content gating by version, ${arg} substitution, text results.
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json.hpp>

#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"

namespace wasimancer::mcp {

RpcError invalid_params(std::string message);
std::optional<std::string> get_string(const json::object& o, std::string_view key);

struct Page {
  size_t begin = 0, end = 0;
  std::optional<std::string> next;
};
// The page `params.cursor` asks for among `total` items (-32602 for a bad cursor).
std::variant<Page, RpcError> paginate(size_t total, const json::object& params, size_t page_size);

// Replaces ${arg} in every string inside `v`.
json::value substitute_all(const json::value& v, const std::map<std::string, std::string>& vars);
// Makes a content block fit the negotiated version: types it does not know become text.
json::value gate_content(json::object block, const VersionFeatures& f, const std::string& version);
// {"content":[{"type":"text","text":...}], "isError"?: true}
json::object text_result(std::string text, bool is_error);

}  // namespace wasimancer::mcp
