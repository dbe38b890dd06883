// mcp/lifecycle.cpp: sessions and how a request finds its session (the one place for session
// rules), version negotiation, initialize, server/discover, ping and logging/setLevel.
#include <map>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/log.hpp"
#include "core/rate_limit.hpp"
#include "mcp/notifications.hpp"
#include "mcp/results.hpp"
#include "mcp/server.hpp"

namespace wasimancer::mcp {

// ---- the session table ---------------------------------------------------------------------------

void Server::forget_session_locked(const std::string& id) {
  sessions_.erase(id);
  auto it = session_client_.find(id);
  if (it == session_client_.end()) return;
  auto c = client_sessions_.find(it->second);
  if (c != client_sessions_.end() && --c->second == 0) client_sessions_.erase(c);
  session_client_.erase(it);
}

std::shared_ptr<Session> Server::create_session(Session::Kind kind, const std::string& client) {
  // Behind a balancer, the id starts with this replica's name ("r1.<random>") so the balancer can
  // route the session's later requests here (README "Running several replicas").
  std::string id = kind == Session::Kind::Stateless ? "" : config_.session_id_prefix + random_token(16);
  auto s = std::make_shared<Session>(std::move(id), kind, std::string(kDefaultVersion));
  if (kind == Session::Kind::Stateless) return s;
  std::shared_ptr<Session> evicted;
  bool own_limit = false;
  {
    std::lock_guard lock(sessions_mu_);
    // The least recently used session of one client.
    auto lru_of = [&](const std::string& who) {
      std::shared_ptr<Session> oldest;
      for (const auto& [id, owner] : session_client_) {
        if (owner != who) continue;
        const auto& candidate = sessions_.at(id);
        if (!oldest || candidate->last_activity() < oldest->last_activity()) oldest = candidate;
      }
      return oldest;
    };
    size_t held = 0;
    if (auto it = client_sessions_.find(client); it != client_sessions_.end()) held = it->second;
    if (config_.max_sessions_per_client && held >= config_.max_sessions_per_client) {
      evicted = lru_of(client);
      own_limit = true;
    } else if (sessions_.size() >= config_.max_sessions && !sessions_.empty()) {
      // The table is full: the client holding the most sessions gives one up.
      std::string heaviest = client;
      size_t most = held;
      for (const auto& [who, n] : client_sessions_) {
        if (n > most) {
          most = n;
          heaviest = who;
        }
      }
      evicted = lru_of(heaviest);
    }
    if (evicted) forget_session_locked(evicted->id());
    sessions_[s->id()] = s;
    session_client_[s->id()] = client;
    ++client_sessions_[client];
  }
  if (evicted) {
    static LogThrottle throttle;  // a client opening sessions in a loop must not flood the log
    if (own_limit) {
      throttle.log("session-evicted", spdlog::level::info,
                   "client {} reached its limit of {} sessions: ended its least recently used session",
                   client.empty() ? "(unknown)" : client, config_.max_sessions_per_client);
    } else {
      throttle.log("session-evicted", spdlog::level::info,
                   "session limit ({}) reached: ended the least recently used session of the client holding the most",
                   config_.max_sessions);
    }
    evicted->close();
  }
  return s;
}

std::shared_ptr<Session> Server::find_session(const std::string& id) const {
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void Server::end_session(const std::string& id) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(sessions_mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    s = it->second;
    forget_session_locked(id);
  }
  s->close();
}

std::vector<std::shared_ptr<Session>> Server::all_sessions() const {
  std::lock_guard lock(sessions_mu_);
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& [id, s] : sessions_) out.push_back(s);
  return out;
}

size_t Server::session_count() const {
  std::lock_guard lock(sessions_mu_);
  return sessions_.size();
}

std::vector<Server::SessionCount> Server::session_counts() const {
  std::map<std::pair<std::string, std::string>, SessionCount> counts;
  auto at = [&](std::string transport, std::string protocol) -> SessionCount& {
    auto& c = counts[{transport, protocol}];
    c.transport = std::move(transport);
    c.protocol = std::move(protocol);
    return c;
  };
  for (const auto& s : all_sessions()) {
    auto& c = at(std::string(s->transport()), s->initialize_received() ? s->protocol_version() : "uninitialized");
    ++c.sessions;
    if (s->has_stream()) ++c.streams;
  }
  for (auto& [transport, protocol] : notifier_->listener_labels()) ++at(transport, protocol).streams;
  std::vector<SessionCount> out;
  for (auto& [k, c] : counts) out.push_back(std::move(c));
  return out;
}

// ---- which session a request belongs to ----------------------------------------------------------

Server::SessionRoute Server::route_post(const std::string& sid, bool has_initialize, size_t message_count,
                                        const std::string& version_header, const std::string& client) {
  SessionRoute r;
  auto refuse = [&](int status, int code, std::string message) {
    r.http_status = status;
    r.error = RpcError{code, std::move(message), std::nullopt};
    return r;
  };
  if (!sid.empty()) {
    r.session = find_session(sid);
    // An initialize that carries a stale session id starts a new session (clients that kept an
    // old id must be able to recover); anything else with an unknown id is 404.
    if (!r.session && !has_initialize) return refuse(404, kSessionNotFound, "Session not found");
  }
  if (has_initialize) {
    if (message_count > 1) return refuse(400, kInvalidRequest, "Invalid Request: initialize must be sent on its own");
    if (r.session && r.session->initialize_received()) {
      return refuse(400, kInvalidRequest, "Invalid Request: the session is already initialized");
    }
    if (!r.session) {
      r.session = create_session(Session::Kind::Streamable, client);
      r.created = true;
    }
  } else if (!r.session) {
    // No session id: served statelessly, as WASImancer's clients expect.
    r.session = create_session(Session::Kind::Stateless);
    r.session->set_protocol_version(version_header.empty() ? std::string(kDefaultVersion) : version_header);
  }
  return r;
}

std::optional<std::string> Server::meta_protocol_version(const json::object& params) {
  auto* meta = params.if_contains("_meta");
  if (!meta || !meta->is_object()) return std::nullopt;
  return get_string(meta->as_object(), kMetaProtocolVersion);
}

std::variant<std::shared_ptr<Session>, RpcError> Server::stateless_session(const json::object& params) const {
  auto* meta = params.if_contains("_meta");
  if (!meta || !meta->is_object()) {
    return invalid_params(fmt::format("Invalid params: _meta with {} and {} is required", kMetaProtocolVersion, kMetaClientCapabilities));
  }
  const auto& m = meta->as_object();
  auto* version = m.if_contains(kMetaProtocolVersion);
  if (!version || !version->is_string()) return invalid_params(fmt::format("Invalid params: _meta[\"{}\"] is required", kMetaProtocolVersion));
  std::string v(version->as_string());
  if (!is_stateless_version(v)) {
    json::object data{{"supported", supported_versions_json()}, {"requested", v}};
    return RpcError{kUnsupportedProtocolVersion, fmt::format("Unsupported protocol version: {} (supported: {})", v, supported_versions_text()),
                    json::value(std::move(data))};
  }
  auto* caps = m.if_contains(kMetaClientCapabilities);
  if (!caps || !caps->is_object()) {
    return invalid_params(fmt::format("Invalid params: _meta[\"{}\"] is required (an object)", kMetaClientCapabilities));
  }
  json::object info;
  if (auto* i = m.if_contains(kMetaClientInfo)) {
    if (!i->is_object()) return invalid_params(fmt::format("Invalid params: _meta[\"{}\"] must be an object", kMetaClientInfo));
    info = i->as_object();
  }
  auto s = std::make_shared<Session>("", Session::Kind::Stateless, v);
  s->record_initialize(v, caps->as_object(), std::move(info));
  s->mark_initialized();
  if (auto* l = m.if_contains(kMetaLogLevel)) {
    auto level = l->is_string() ? parse_mcp_log_level(l->as_string()) : std::nullopt;
    if (!level) return invalid_params(fmt::format("Invalid params: _meta[\"{}\"] is not a log level", kMetaLogLevel));
    s->set_log_level(*level);
  }
  return s;
}

// ---- methods ------------------------------------------------------------------------------------

json::object Server::capabilities(const VersionFeatures& f) const {
  json::object caps{{"tools", json::object{{"listChanged", true}}},
                    {"resources", json::object{{"subscribe", true}, {"listChanged", true}}},
                    {"prompts", json::object{{"listChanged", true}}},
                    {"completions", json::object{}}};
  if (!f.stateless) caps["logging"] = json::object{};
  if (f.stateless) caps["extensions"] = json::object{{kTasksExtension, json::object{}}};
  return caps;
}

void Server::add_lifecycle_methods() {
  add_method("initialize", {[this](const RequestPtr& r) {
                              Session& s = *r->session;
                              auto requested = get_string(r->params, "protocolVersion");
                              if (!requested) return answer(*r, invalid_params("initialize: \"protocolVersion\" must be a string"));
                              json::object caps, info;
                              if (auto* c = r->params.if_contains("capabilities"); c && c->is_object()) caps = c->as_object();
                              if (auto* i = r->params.if_contains("clientInfo"); i && i->is_object()) info = i->as_object();
                              std::string version = negotiate_version(*requested);
                              if (!s.record_initialize(version, caps, info)) {
                                return answer(*r, RpcError{kInvalidRequest, "the session is already initialized", std::nullopt});
                              }
                              VersionFeatures f = features_of(version);
                              json::object info_out = server_info();
                              if (f.titles) info_out["title"] = "wasimancer";
                              json::object result{{"protocolVersion", version},
                                                  {"capabilities", capabilities(f)},
                                                  {"serverInfo", std::move(info_out)}};
                              if (!config_.instructions.empty()) result["instructions"] = config_.instructions;
                              log().debug("session {} initialized by {} with protocol {}", s.id().empty() ? "(stateless)" : s.id(),
                                          get_string(info, "name").value_or("an unnamed client"), version);
                              answer(*r, json::value(std::move(result)));
                            },
                            kStateful, true});
  add_method("ping", {[this](const RequestPtr& r) { answer(*r, json::value(json::object{})); }, kStateful, true});
  add_method("logging/setLevel", {[this](const RequestPtr& r) {
                                    auto level = get_string(r->params, "level");
                                    auto l = level ? parse_mcp_log_level(*level) : std::nullopt;
                                    if (!l) {
                                      return answer(*r, invalid_params("logging/setLevel: \"level\" must be one of debug, info, notice, "
                                                                       "warning, error, critical, alert, emergency"));
                                    }
                                    r->session->set_log_level(*l);
                                    answer(*r, json::value(json::object{}));
                                  },
                                  kStateful});
  add_method("server/discover", {[this](const RequestPtr& r) {
                                   json::object result{{"supportedVersions", supported_versions_json()},
                                                       {"capabilities", capabilities(r->features)},
                                                       {"ttlMs", config_.list_ttl_ms},
                                                       {"cacheScope", "public"}};
                                   if (!config_.instructions.empty()) result["instructions"] = config_.instructions;
                                   answer(*r, json::value(std::move(result)));
                                 },
                                 kStateless});
}

}  // namespace wasimancer::mcp
