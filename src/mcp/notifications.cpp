#include "mcp/notifications.hpp"

#include "core/log.hpp"
#include "core/thread_name.hpp"
#include "mcp/plugin_items.hpp"
#include "mcp/results.hpp"

namespace wasimancer::mcp {

namespace {
const char* kListChanged[] = {"notifications/tools/list_changed", "notifications/resources/list_changed",
                              "notifications/prompts/list_changed"};
}

Notifier::Notifier(Server& server) : server_(server) {
  auto& c = server_.catalogs();
  tokens_[0] = c.plugins.on_change([this](const registry::PluginSnapshot& s) { plugins_changed(s); });
  tokens_[1] = c.resources.on_change([this](const registry::CatalogChange& ch) { resource_changed(ch); });
  tokens_[2] = c.prompts.on_change([this](const registry::CatalogChange&) { mark_changed(2); });
  server_.add_method("subscriptions/listen", {[this](const RequestPtr& r) { listen(r); }, Server::kStateless});
  thread_ = named_thread("wm-notify", [this] { loop(); });
}

Notifier::~Notifier() {
  stop_listening();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Notifier::stop_listening() {
  std::lock_guard lock(mu_);
  if (!listening_) return;
  listening_ = false;
  auto& c = server_.catalogs();
  c.plugins.remove_listener(tokens_[0]);
  c.resources.remove_listener(tokens_[1]);
  c.prompts.remove_listener(tokens_[2]);
}

void Notifier::close_streams() {
  std::vector<std::shared_ptr<Listener>> all;
  {
    std::lock_guard lock(listeners_mu_);
    all.swap(listeners_);
  }
  // The listen request's result says the subscription ended gracefully.
  for (auto& l : all) {
    server_.answer(*l->request, json::value(json::object{
                                    {"_meta", json::object{{kMetaSubscriptionId, l->request->id}}}}));
  }
}

size_t Notifier::listener_count() const {
  std::lock_guard lock(listeners_mu_);
  return listeners_.size();
}

std::vector<std::pair<std::string, std::string>> Notifier::listener_labels() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& l : live_listeners()) out.emplace_back(std::string(l->request->session->transport()), l->request->version);
  return out;
}

void Notifier::listen(const RequestPtr& r) {
  auto* n = r->params.if_contains("notifications");
  if (!n || !n->is_object()) {
    return server_.answer(*r, invalid_params("subscriptions/listen: \"notifications\" (an object) is required"));
  }
  const auto& filter = n->as_object();
  auto flag = [&](std::string_view key) {
    auto* v = filter.if_contains(key);
    return v && v->is_bool() && v->as_bool();
  };
  auto l = std::make_shared<Listener>();
  l->request = r;
  l->tools = flag("toolsListChanged");
  l->prompts = flag("promptsListChanged");
  l->resources = flag("resourcesListChanged");
  json::object agreed;
  if (l->tools) agreed["toolsListChanged"] = true;
  if (l->prompts) agreed["promptsListChanged"] = true;
  if (l->resources) agreed["resourcesListChanged"] = true;
  if (auto* uris = filter.if_contains("resourceSubscriptions")) {
    if (!uris->is_array()) return server_.answer(*r, invalid_params("subscriptions/listen: \"resourceSubscriptions\" must be a list"));
    json::array kept;
    for (const auto& u : uris->as_array()) {
      if (!u.is_string()) return server_.answer(*r, invalid_params("subscriptions/listen: resource URIs must be strings"));
      l->resource_uris.emplace_back(u.as_string());
      kept.push_back(u);
    }
    agreed["resourceSubscriptions"] = std::move(kept);
  }
  send_to_listener(*l, make_notification("notifications/subscriptions/acknowledged", json::object{{"notifications", agreed}}));
  std::lock_guard lock(listeners_mu_);
  listeners_.push_back(std::move(l));
}

void Notifier::send_to_listener(const Listener& l, json::object notification) {
  auto& params = notification["params"];
  if (!params.is_object()) params = json::object{};
  auto& meta = params.as_object()["_meta"];
  if (!meta.is_object()) meta = json::object{};
  meta.as_object()[kMetaSubscriptionId] = l.request->id;
  l.request->reply->send(std::move(notification));
}

std::vector<std::shared_ptr<Notifier::Listener>> Notifier::live_listeners() {
  std::lock_guard lock(listeners_mu_);
  std::erase_if(listeners_, [](const auto& l) { return !l->request->reply->is_open(); });
  return listeners_;
}

void Notifier::task_status(json::object params) {
  for (auto& l : live_listeners()) {
    auto* ext = l->request->session->client_capabilities().if_contains("extensions");
    if (ext && ext->is_object() && ext->as_object().contains(kTasksExtension)) {
      send_to_listener(*l, make_notification("notifications/tasks", params));
    }
  }
}

void Notifier::mark_changed(int which) {
  {
    std::lock_guard lock(mu_);
    changed_[which] = true;
  }
  cv_.notify_all();
}

// A new plugin snapshot: the tools changed, and the prompts or resources too when what the
// self-describing plugins serve did (mcp/plugin_items.hpp).
void Notifier::plugins_changed(const registry::PluginSnapshot& s) {
  auto fingerprint = [&](ItemKind kind) {
    std::string f;
    for (const auto& pi : plugin_items(s, kind)) f += json::serialize(pi.item) + '\n';
    return f;
  };
  std::string prompts = fingerprint(ItemKind::Prompt);
  std::string resources = fingerprint(ItemKind::Resource) + fingerprint(ItemKind::Template);
  {
    std::lock_guard lock(mu_);
    changed_[0] = true;
    if (prompts != plugin_prompts_) changed_[2] = true;
    if (resources != plugin_resources_) changed_[1] = true;
    plugin_prompts_ = std::move(prompts);
    plugin_resources_ = std::move(resources);
  }
  cv_.notify_all();
}

void Notifier::resource_changed(const registry::CatalogChange& change) {
  mark_changed(1);
  if (change.kind == registry::CatalogChange::Added) return;
  bool is_template = change.uri.find('{') != std::string::npos;
  auto matches = [&](const std::string& sub) {
    return sub == change.uri || (is_template && registry::match_uri_template(change.uri, sub, nullptr));
  };
  for (auto& s : server_.all_sessions()) {
    for (const auto& sub : s->subscriptions()) {
      if (matches(sub)) s->notify(make_notification("notifications/resources/updated", json::object{{"uri", sub}}));
    }
  }
  for (auto& l : live_listeners()) {
    for (const auto& sub : l->resource_uris) {
      if (matches(sub)) send_to_listener(*l, make_notification("notifications/resources/updated", json::object{{"uri", sub}}));
    }
  }
}

void Notifier::loop() {
  std::unique_lock lock(mu_);
  auto next_sweep = Clock::now() + std::chrono::seconds(30);
  while (!stopping_) {
    cv_.wait_until(lock, next_sweep, [this] { return stopping_ || changed_[0] || changed_[1] || changed_[2]; });
    if (stopping_) break;
    if (changed_[0] || changed_[1] || changed_[2]) {
      // Let a burst of changes settle into one notification per list.
      cv_.wait_for(lock, server_.config().list_changed_debounce, [this] { return stopping_; });
      bool which[3] = {changed_[0], changed_[1], changed_[2]};
      changed_[0] = changed_[1] = changed_[2] = false;
      lock.unlock();
      auto sessions = server_.all_sessions();
      auto listeners = live_listeners();
      for (int i = 0; i < 3; ++i) {
        if (!which[i]) continue;
        for (auto& s : sessions) s->notify(make_notification(kListChanged[i]));
        for (auto& l : listeners) {
          bool wanted = i == 0 ? l->tools : i == 1 ? l->resources : l->prompts;
          if (wanted) send_to_listener(*l, make_notification(kListChanged[i]));
        }
      }
      lock.lock();
    }
    if (Clock::now() >= next_sweep) {
      next_sweep = Clock::now() + std::chrono::seconds(30);
      lock.unlock();
      std::vector<std::string> idle;
      for (auto& s : server_.all_sessions()) {
        if (!s->has_stream() && Clock::now() - s->last_activity() > server_.config().session_idle_timeout) idle.push_back(s->id());
      }
      for (auto& id : idle) server_.end_session(id);
      if (!idle.empty()) log().info("ended {} idle session(s)", idle.size());
      lock.lock();
    }
  }
}

}  // namespace wasimancer::mcp
