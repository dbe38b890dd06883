// mcp/jsonrpc.hpp: JSON-RPC 2.0 messages as MCP uses them.
//
// Thread safety: pure functions over values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace wasimancer::mcp {

namespace json = boost::json;

enum ErrorCode : int {
  kHeaderMismatch = -32020,                   // 2026-07-28: HTTP headers disagree with the body
  kMissingRequiredClientCapability = -32021,  // 2026-07-28
  kUnsupportedProtocolVersion = -32022,       // 2026-07-28
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kServerError = -32000,       // transport-level refusals (the SDK's convention)
  kSessionNotFound = -32001,
  kResourceNotFound = -32002,
};

struct RpcError {
  int code = kInternalError;
  std::string message;
  std::optional<json::value> data;
};

enum class MessageKind { Request, Notification, Response, Invalid };

// Classifies one message; for Invalid, *why says what is wrong.
MessageKind classify(const json::value& message, std::string* why);

// One message, classified once (by inspect()) and then handed around: transports and the
// server never classify the same message twice.
struct Message {
  MessageKind kind = MessageKind::Invalid;
  const json::value* raw = nullptr;  // the message itself (borrowed)
  json::value id;                    // requests and responses (and an invalid message's valid id)
  std::string method;                // requests and notifications
  std::string why;                   // Invalid: what is wrong
  const json::object& params() const;  // {} when absent
  const json::object& object() const { return raw->as_object(); }
};
Message inspect(const json::value& message);

json::object make_result(const json::value& id, json::value result);
json::object make_error(const json::value& id, const RpcError& error);
json::object make_notification(std::string_view method, json::value params = nullptr);
json::object make_request(const json::value& id, std::string_view method, json::value params);

// A valid request id: a string or an integer.
bool is_valid_id(const json::value& id);

// Replaces invalid UTF-8 with U+FFFD so plugin output can always travel in a JSON string.
std::string to_valid_utf8(std::string_view bytes);

}  // namespace wasimancer::mcp
