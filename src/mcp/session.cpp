#include "mcp/session.hpp"

#include <fmt/format.h>

#include "mcp/jsonrpc.hpp"

namespace wasimancer::mcp {

namespace {
constexpr size_t kMaxQueued = 256;
std::string key_of(const json::value& id) { return json::serialize(id); }
}  // namespace

std::optional<int> parse_mcp_log_level(std::string_view name) {
  for (int i = 0; i < 8; ++i) {
    if (name == kLogLevels[i]) return i;
  }
  return std::nullopt;
}

Session::Session(std::string id, Kind kind, std::string protocol_version)
    : id_(std::move(id)), kind_(kind), version_(std::move(protocol_version)), last_activity_(Clock::now()) {}

std::string Session::protocol_version() const {
  std::lock_guard lock(mu_);
  return version_;
}

bool Session::initialize_received() const {
  std::lock_guard lock(mu_);
  return init_received_;
}

bool Session::initialized() const {
  std::lock_guard lock(mu_);
  return initialized_;
}

json::object Session::client_capabilities() const {
  std::lock_guard lock(mu_);
  return capabilities_;
}

json::object Session::client_info() const {
  std::lock_guard lock(mu_);
  return client_info_;
}

bool Session::record_initialize(std::string version, json::object capabilities, json::object client_info) {
  std::lock_guard lock(mu_);
  if (init_received_) return false;
  init_received_ = true;
  version_ = std::move(version);
  capabilities_ = std::move(capabilities);
  client_info_ = std::move(client_info);
  return true;
}

void Session::mark_initialized() {
  std::shared_ptr<Outbound> stream;
  std::list<json::object> flush;
  {
    std::lock_guard lock(mu_);
    initialized_ = true;
    if (stream_ && stream_->is_open()) {
      stream = stream_;
      flush.swap(queued_);
    }
  }
  for (auto& m : flush) stream->send(std::move(m));
}

std::optional<int> Session::log_level() const {
  std::lock_guard lock(mu_);
  return log_level_;
}

void Session::set_log_level(int level) {
  std::lock_guard lock(mu_);
  log_level_ = level;
}

void Session::subscribe(const std::string& uri) {
  std::lock_guard lock(mu_);
  subscriptions_.insert(uri);
}

void Session::unsubscribe(const std::string& uri) {
  std::lock_guard lock(mu_);
  subscriptions_.erase(uri);
}

std::set<std::string> Session::subscriptions() const {
  std::lock_guard lock(mu_);
  return subscriptions_;
}

bool Session::attach_stream(std::shared_ptr<Outbound> stream) {
  std::list<json::object> flush;
  {
    std::lock_guard lock(mu_);
    if (stream_ && stream_->is_open()) return false;
    stream_ = stream;
    if (initialized_ || kind_ == Kind::Legacy || kind_ == Kind::Stdio) flush.swap(queued_);
  }
  for (auto& m : flush) stream->send(std::move(m));
  return true;
}

void Session::detach_stream(const Outbound* stream) {
  std::lock_guard lock(mu_);
  if (stream_.get() == stream) stream_.reset();
}

std::shared_ptr<Outbound> Session::stream() const {
  std::lock_guard lock(mu_);
  return stream_;
}

void Session::set_protocol_version(std::string version) {
  std::lock_guard lock(mu_);
  version_ = std::move(version);
}

bool Session::has_stream() const {
  std::lock_guard lock(mu_);
  return stream_ && stream_->is_open();
}

void Session::notify(json::object message) {
  std::shared_ptr<Outbound> stream;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (!initialized_ || !stream_ || !stream_->is_open()) {
      if (queued_.size() >= kMaxQueued) queued_.pop_front();
      queued_.push_back(std::move(message));
      return;
    }
    stream = stream_;
  }
  stream->send(std::move(message));
}

std::shared_ptr<std::atomic<bool>> Session::begin_request(const json::value& id) {
  auto flag = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard lock(mu_);
  in_flight_[key_of(id)] = flag;
  return flag;
}

void Session::end_request(const json::value& id) {
  std::lock_guard lock(mu_);
  in_flight_.erase(key_of(id));
}

bool Session::cancel_request(const json::value& id) {
  std::lock_guard lock(mu_);
  auto it = in_flight_.find(key_of(id));
  if (it == in_flight_.end()) return false;
  it->second->store(true);
  return true;
}

Result<json::value> Session::request_client(std::string_view method, json::value params,
                                            const std::shared_ptr<Outbound>& via, Deadline deadline,
                                            const std::atomic<bool>* cancel) {
  auto promise = std::make_shared<std::promise<json::object>>();
  auto future = promise->get_future();
  json::value id;
  std::shared_ptr<Outbound> out = via;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Error(ErrorKind::HostError, "the client session has ended");
    id = json::string(fmt::format("wasimancer-{}", next_request_++));
    pending_[key_of(id)] = promise;
    if (!out || !out->is_open()) out = stream_;
  }
  if (!out || !out->is_open()) {
    std::lock_guard lock(mu_);
    pending_.erase(key_of(id));
    return Error(ErrorKind::HostError, fmt::format("cannot send {} to the client: no open stream", method));
  }
  out->send(make_request(id, method, std::move(params)));
  for (;;) {
    if (future.wait_for(std::chrono::milliseconds(50)) == std::future_status::ready) break;
    if ((cancel && cancel->load()) || deadline.expired()) {
      std::lock_guard lock(mu_);
      pending_.erase(key_of(id));
      return Error(ErrorKind::Timeout, fmt::format("timeout: the client did not answer {} in time", method));
    }
  }
  json::object resp = future.get();
  if (auto* err = resp.if_contains("error")) {
    std::string msg = "the client answered with an error";
    if (err->is_object()) {
      if (auto* m = err->as_object().if_contains("message"); m && m->is_string()) msg = std::string(m->as_string());
    }
    return Error(ErrorKind::HostError, fmt::format("{}: {}", method, msg));
  }
  if (auto* r = resp.if_contains("result")) return *r;
  return Error(ErrorKind::HostError, fmt::format("{}: the client's answer has no result", method));
}

bool Session::deliver_response(const json::object& response) {
  auto* id = response.if_contains("id");
  if (!id) return false;
  std::shared_ptr<std::promise<json::object>> p;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(key_of(*id));
    if (it == pending_.end()) return false;
    p = it->second;
    pending_.erase(it);
  }
  p->set_value(response);
  return true;
}

void Session::touch() {
  std::lock_guard lock(mu_);
  last_activity_ = Clock::now();
}

Clock::time_point Session::last_activity() const {
  std::lock_guard lock(mu_);
  return last_activity_;
}

void Session::close() {
  std::map<std::string, std::shared_ptr<std::promise<json::object>>> pending;
  std::map<std::string, std::shared_ptr<std::atomic<bool>>> in_flight;
  std::shared_ptr<Outbound> stream;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    pending.swap(pending_);
    in_flight = in_flight_;
    stream.swap(stream_);
    queued_.clear();
  }
  if (stream) stream->session_ended();
  for (auto& [k, p] : pending) {
    p->set_value(json::object{{"error", json::object{{"code", kInternalError}, {"message", "the session ended"}}}});
  }
  for (auto& [k, f] : in_flight) f->store(true);  // stop the session's calls
}

bool Session::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

std::string_view Session::transport() const {
  if (!transport_.empty()) return transport_;
  switch (kind_) {
    case Kind::Legacy: return "legacy";
    case Kind::Stdio: return "stdio";
    case Kind::Streamable:
    case Kind::Stateless: return "streamable";
  }
  return "streamable";
}

}  // namespace wasimancer::mcp
