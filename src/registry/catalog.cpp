#include "registry/catalog.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "registry/names.hpp"
#include "registry/store.hpp"
#include "registry/yaml_json.hpp"

namespace wasimancer::registry {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

Error bad(const std::string& where, const std::string& what) {
  return Error(ErrorKind::InvalidArgument, where.empty() ? what : fmt::format("{}: {}", where, what));
}

Result<std::string> opt_string(const json::object& o, std::string_view key, const std::string& where) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) return bad(where, fmt::format("\"{}\" must be a string", key));
  return std::string(v->as_string());
}

Result<std::vector<CatalogArgument>> parse_arguments(const json::object& o, const std::string& where) {
  std::vector<CatalogArgument> out;
  auto* v = o.if_contains("arguments");
  if (!v || v->is_null()) return out;
  if (!v->is_array()) return bad(where, "\"arguments\" must be a list");
  size_t i = 0;
  for (const auto& a : v->as_array()) {
    std::string aw = fmt::format("{}.arguments[{}]", where, i++);
    if (!a.is_object()) return bad(aw, "must be an object with a name");
    const auto& ao = a.as_object();
    CatalogArgument arg;
    auto name = opt_string(ao, "name", aw);
    if (!name) return name.take_error();
    if (name->empty()) return bad(aw, "\"name\" is required");
    arg.name = *name;
    auto type = opt_string(ao, "type", aw);
    if (!type) return type.take_error();
    arg.type = *type;
    auto desc = opt_string(ao, "description", aw);
    if (!desc) return desc.take_error();
    arg.description = *desc;
    if (auto* r = ao.if_contains("required"); r && !r->is_null()) {
      if (!r->is_bool()) return bad(aw, "\"required\" must be true or false");
      arg.required = r->as_bool();
    }
    if (auto* vals = ao.if_contains("values"); vals && !vals->is_null()) {
      if (!vals->is_array()) return bad(aw, "\"values\" must be a list of strings");
      for (const auto& x : vals->as_array()) {
        if (!x.is_string()) return bad(aw, "\"values\" must be a list of strings");
        arg.values.emplace_back(x.as_string());
      }
    }
    for (const auto& other : out) {
      if (other.name == arg.name) return bad(aw, fmt::format("duplicate argument \"{}\"", arg.name));
    }
    out.push_back(std::move(arg));
  }
  return out;
}

}  // namespace

Result<ResourceSpec> parse_resource_spec(const json::value& entry, bool dynamic) {
  if (!entry.is_object()) return bad("", "a resource must be an object");
  const auto& o = entry.as_object();
  ResourceSpec r;
  r.raw = o;
  r.dynamic = dynamic;
  auto name = opt_string(o, "name", "resource");
  if (!name) return name.take_error();
  if (name->empty()) return bad("resource", "\"name\" is required");
  if (auto check = check_name("resource", *name); !check) return check.take_error();
  r.name = *name;
  std::string where = fmt::format("resource \"{}\"", r.name);
  auto uri = opt_string(o, "uri", where);
  if (!uri) return uri.take_error();
  if (uri->empty()) return bad(where, "\"uri\" is required");
  r.uri = *uri;
  if (r.uri.size() > kMaxUriLength) return bad(where, fmt::format("\"uri\" is longer than {} bytes", kMaxUriLength));
  bool has_var = r.uri.find('{') != std::string::npos;
  if (dynamic && !has_var) return bad(where, "a dynamic resource's uri must be a template with {variables}");
  if (!dynamic && has_var) return bad(where, "a static resource's uri must not contain {variables}");
  if (r.uri.find(':') == std::string::npos) return bad(where, fmt::format("\"{}\" is not a URI (no scheme)", r.uri));
  for (auto [key, out] : {std::pair<const char*, std::string*>{"title", &r.title}, {"description", &r.description},
                          {"mimeType", &r.mime_type}}) {
    auto s = opt_string(o, key, where);
    if (!s) return s.take_error();
    *out = *s;
  }
  auto args = parse_arguments(o, where);
  if (!args) return args.take_error();
  r.arguments = std::move(*args);
  auto* c = o.if_contains("contents");
  if (!c || !c->is_array() || c->as_array().empty()) return bad(where, "\"contents\" must be a non-empty list");
  size_t i = 0;
  for (const auto& item : c->as_array()) {
    std::string iw = fmt::format("{}.contents[{}]", where, i++);
    if (!item.is_object()) return bad(iw, "must be an object with text or blob");
    const auto& io = item.as_object();
    auto* text = io.if_contains("text");
    auto* blob = io.if_contains("blob");
    if ((text == nullptr) == (blob == nullptr)) return bad(iw, "must have exactly one of \"text\" and \"blob\"");
    if (text && !text->is_string()) return bad(iw, "\"text\" must be a string");
    if (blob) {
      std::string decoded;
      if (!blob->is_string() || !base64_decode(blob->as_string(), decoded)) return bad(iw, "\"blob\" must be base64 text");
    }
  }
  r.contents = c->as_array();
  return r;
}

Result<PromptSpec> parse_prompt_spec(const json::value& entry) {
  if (!entry.is_object()) return bad("", "a prompt must be an object");
  const auto& o = entry.as_object();
  PromptSpec p;
  p.raw = o;
  auto name = opt_string(o, "name", "prompt");
  if (!name) return name.take_error();
  if (name->empty()) return bad("prompt", "\"name\" is required");
  if (auto check = check_name("prompt", *name); !check) return check.take_error();
  p.name = *name;
  std::string where = fmt::format("prompt \"{}\"", p.name);
  for (auto [key, out] : {std::pair<const char*, std::string*>{"title", &p.title}, {"description", &p.description}}) {
    auto s = opt_string(o, key, where);
    if (!s) return s.take_error();
    *out = *s;
  }
  auto args = parse_arguments(o, where);
  if (!args) return args.take_error();
  p.arguments = std::move(*args);
  auto* m = o.if_contains("messages");
  if (!m || !m->is_array() || m->as_array().empty()) return bad(where, "\"messages\" must be a non-empty list");
  size_t i = 0;
  for (const auto& msg : m->as_array()) {
    std::string mw = fmt::format("{}.messages[{}]", where, i++);
    if (!msg.is_object()) return bad(mw, "must be an object with role and text");
    const auto& mo = msg.as_object();
    auto role = opt_string(mo, "role", mw);
    if (!role) return role.take_error();
    if (*role != "user" && *role != "assistant") return bad(mw, "\"role\" must be \"user\" or \"assistant\"");
    auto* text = mo.if_contains("text");
    auto* content = mo.if_contains("content");
    if ((text == nullptr) == (content == nullptr)) return bad(mw, "must have exactly one of \"text\" and \"content\"");
    if (text && !text->is_string()) return bad(mw, "\"text\" must be a string");
    if (content) {
      if (!content->is_object()) return bad(mw, "\"content\" must be an object with a type");
      auto* type = content->as_object().if_contains("type");
      static const char* types[] = {"text", "image", "audio", "resource", "resource_link"};
      bool known = false;
      for (const char* t : types) known = known || (type && type->is_string() && type->as_string() == t);
      if (!known) return bad(mw, "\"content.type\" must be text, image, audio, resource or resource_link");
    }
  }
  p.messages = m->as_array();
  return p;
}

namespace {

// One piece of a level-1 template: a literal, or a variable (name) followed by a literal.
struct TemplatePart {
  std::string_view name;     // the variable; empty for the leading literal
  std::string_view literal;  // the text after it (up to the next variable or the end)
};

// Splits `tmpl` into the leading literal and the variables with their following literals.
// False if it has an unclosed '{' (the template is then compared as plain text).
bool split_template(std::string_view tmpl, std::string_view* lead, std::vector<TemplatePart>* parts) {
  size_t open = tmpl.find('{');
  *lead = tmpl.substr(0, open);
  while (open != std::string_view::npos) {
    size_t close = tmpl.find('}', open);
    if (close == std::string_view::npos) return false;
    size_t next = tmpl.find('{', close + 1);
    size_t lit_end = next == std::string_view::npos ? tmpl.size() : next;
    parts->push_back({tmpl.substr(open + 1, close - open - 1), tmpl.substr(close + 1, lit_end - close - 1)});
    open = next;
  }
  return true;
}

}  // namespace

bool match_uri_template(std::string_view tmpl, std::string_view uri, std::map<std::string, std::string>* vars) {
  // Linear and without recursion: the URI is scanned once, left to right. A variable takes one
  // or more characters other than '/', as few as possible such that the rest can still match
  // (the leftmost-shortest choice of the former "([^/]+?)" regex). Taking the earliest place
  // where the next literal occurs is always right: if a later place matched, the following
  // variable can absorb the characters in between (they contain no '/'), and a literal that
  // contains a '/' can only start at one place (its first '/' is the first one after the
  // variable's start).
  if (tmpl.size() > kMaxUriTemplateLength || uri.size() > kMaxUriLength) return false;
  std::string_view lead;
  std::vector<TemplatePart> parts;
  if (!split_template(tmpl, &lead, &parts)) return tmpl == uri;
  if (uri.substr(0, lead.size()) != lead) return false;
  size_t pos = lead.size();
  std::vector<std::pair<size_t, size_t>> spans;  // each variable's [begin, end) in uri
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string_view lit = parts[i].literal;
    const bool last = i + 1 == parts.size();
    // The variable cannot reach past the first '/' at or after pos.
    size_t slash = uri.find('/', pos);
    size_t limit = slash == std::string_view::npos ? uri.size() : slash;  // the variable ends at or before this
    size_t end;                                                           // where the variable ends
    if (last) {
      // The literal must end the URI.
      if (uri.size() < pos + 1 + lit.size()) return false;
      end = uri.size() - lit.size();
      if (end > limit || uri.substr(end) != lit) return false;
    } else if (size_t k = lit.find('/'); k != std::string_view::npos) {
      // The literal's first '/' is the first one after pos: one possible place.
      if (slash == std::string_view::npos || slash < pos + 1 + k) return false;
      end = slash - k;
      if (uri.substr(end, lit.size()) != lit) return false;
    } else {
      // The earliest occurrence after at least one character, entirely before the '/'.
      if (pos + 1 > limit) return false;
      size_t at = uri.substr(0, limit).find(lit, pos + 1);
      if (at == std::string_view::npos) return false;
      end = at;
    }
    spans.emplace_back(pos, end);
    pos = end + lit.size();
  }
  if (pos != uri.size()) return false;  // no variables: the URI is the template
  if (vars) {
    for (size_t i = 0; i < parts.size(); ++i) {
      (*vars)[std::string(parts[i].name)] = percent_decode(uri.substr(spans[i].first, spans[i].second - spans[i].first));
    }
  }
  return true;
}

std::string substitute(std::string_view text, const std::map<std::string, std::string>& vars) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t end = text.find('}', i + 2);
      if (end != std::string_view::npos) {
        auto it = vars.find(std::string(text.substr(i + 2, end - i - 2)));
        if (it != vars.end()) {
          out += it->second;
          i = end;
          continue;
        }
      }
    }
    out += text[i];
  }
  return out;
}

// ---- the lists in a document -----------------------------------------------------------------

namespace {

// A list is a path of keys from the document root, e.g. {"resources", "static"}.
using ListPath = std::vector<std::string>;

json::array& list_in(json::value& doc, const ListPath& path) {
  json::value* cur = &doc;
  for (const auto& key : path) {
    if (!cur->is_object()) *cur = json::object{};
    cur = &cur->as_object()[key];
  }
  if (!cur->is_array()) *cur = json::array{};
  return cur->as_array();
}

// The entries of every list of `doc`; `where` names the document in messages.
Result<std::vector<std::vector<json::value>>> lists_of(const json::value& doc, const std::vector<ListPath>& lists, const std::string& where) {
  std::vector<std::vector<json::value>> out(lists.size());
  for (size_t i = 0; i < lists.size(); ++i) {
    const json::value* cur = &doc;
    std::string path;
    for (const auto& key : lists[i]) {
      path += (path.empty() ? "" : ".") + key;
      cur = cur->is_object() ? cur->as_object().if_contains(key) : nullptr;
      if (!cur || cur->is_null()) break;
    }
    if (!cur || cur->is_null()) continue;
    if (!cur->is_array()) return Error(ErrorKind::InvalidArgument, fmt::format("{}: \"{}\" must be a list", where, path));
    out[i].assign(cur->as_array().begin(), cur->as_array().end());
  }
  return out;
}

}  // namespace

// ---- Catalog ------------------------------------------------------------------------------------

namespace {

// What differs between resources and prompts.
template <typename Spec>
struct CatalogTraits;

template <>
struct CatalogTraits<ResourceSpec> {
  static constexpr std::string_view noun = "resource";
  static std::vector<std::vector<std::string>> lists() { return {{"resources", "static"}, {"resources", "dynamic"}}; }
  static size_t list_of(const ResourceSpec& r) { return r.dynamic ? 1 : 0; }
  static const std::string& uri_of(const ResourceSpec& r) { return r.uri; }
  static Result<ResourceSpec> parse(const json::value& entry, size_t list) { return parse_resource_spec(entry, list == 1); }
  // A body from the admin API: a URI template makes the resource dynamic.
  static Result<ResourceSpec> parse_body(const json::value& body) {
    if (!body.is_object()) return bad("", "the resource must be a JSON object");
    auto* uri = body.as_object().if_contains("uri");
    bool dynamic = uri && uri->is_string() && std::string_view(uri->as_string()).find('{') != std::string_view::npos;
    return parse_resource_spec(body, dynamic);
  }
};

template <>
struct CatalogTraits<PromptSpec> {
  static constexpr std::string_view noun = "prompt";
  static std::vector<std::vector<std::string>> lists() { return {{"prompts", "predefined"}}; }
  static size_t list_of(const PromptSpec&) { return 0; }
  static const std::string& uri_of(const PromptSpec&) {
    static const std::string none;
    return none;
  }
  static Result<PromptSpec> parse(const json::value& entry, size_t) { return parse_prompt_spec(entry); }
  static Result<PromptSpec> parse_body(const json::value& body) { return parse_prompt_spec(body); }
};

bool same_name(const json::value& v, std::string_view name) {
  if (!v.is_object()) return false;
  auto* n = v.as_object().if_contains("name");
  return n && n->is_string() && n->as_string() == name;
}

void erase_named(json::array& list, std::string_view name) {
  for (auto it = list.begin(); it != list.end();) it = same_name(*it, name) ? list.erase(it) : it + 1;
}

Result<json::value> body_with_name(const json::value& body, std::string_view name, std::string_view what) {
  if (!body.is_object()) return bad("", fmt::format("the {} must be a JSON object", what));
  json::value b = body;
  auto* n = b.as_object().if_contains("name");
  if (!n || n->is_null()) {
    b.as_object()["name"] = name;
  } else if (!n->is_string() || n->as_string() != name) {
    return bad("", fmt::format("the {} name in the body does not match \"{}\" in the URL", what, name));
  }
  return b;
}

}  // namespace

template <typename Spec>
Catalog<Spec>::Catalog(std::optional<fs::path> file) : snap_(std::make_shared<const CatalogSnapshot<Spec>>()) {
  if (file) store_ = std::make_unique<YamlFileStore>(*file);
}

template <typename Spec>
Catalog<Spec>::Catalog(std::unique_ptr<DocumentStore> store)
    : store_(std::move(store)), snap_(std::make_shared<const CatalogSnapshot<Spec>>()) {}

template <typename Spec>
Catalog<Spec>::~Catalog() = default;

template <typename Spec>
void Catalog<Spec>::publish(std::vector<std::shared_ptr<const Spec>> items, std::optional<uint64_t> revision) {
  auto snap = std::make_shared<CatalogSnapshot<Spec>>();
  snap->items = std::move(items);
  snap->revision = revision ? *revision : snapshot()->revision + 1;
  snap_.set(std::move(snap));
}

template <typename Spec>
Result<std::vector<std::shared_ptr<const Spec>>> Catalog<Spec>::parse_document(const json::value& doc, bool skip_broken,
                                                                               std::vector<std::string>* problems) const {
  using T = CatalogTraits<Spec>;
  auto lists = lists_of(doc, T::lists(), store_->where());
  if (!lists) return lists.take_error();
  std::vector<std::shared_ptr<const Spec>> items;
  for (size_t which = 0; which < lists->size(); ++which) {
    size_t i = 0;
    for (const auto& e : (*lists)[which]) {
      std::string label = fmt::format("{} {}[{}]", store_->where(), T::lists()[which].back(), i++);
      auto spec = T::parse(e, which);
      std::string problem;
      if (!spec) {
        problem = spec.error().message;
      } else {
        const std::string& uri = T::uri_of(*spec);
        for (const auto& other : items) {
          if (other->name == spec->name) problem = fmt::format("a {} named \"{}\" is defined twice", T::noun, spec->name);
          else if (!uri.empty() && T::uri_of(*other) == uri) problem = fmt::format("the uri \"{}\" is defined twice", uri);
        }
      }
      if (!problem.empty()) {
        if (!skip_broken) return Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", label, problem));
        log().error("{}: {} (skipped)", label, problem);
        problems->push_back(fmt::format("{}: {}", label, problem));
        continue;
      }
      items.push_back(std::make_shared<const Spec>(std::move(*spec)));
    }
  }
  return items;
}

template <typename Spec>
Result<std::vector<std::string>> Catalog<Spec>::load(bool skip_broken) {
  std::lock_guard lock(mu_);
  std::vector<std::string> problems;
  if (!store_) return problems;
  auto doc = store_->load();
  if (!doc) return doc.take_error();
  auto items = parse_document(*doc ? **doc : json::value(json::object{}), skip_broken, &problems);
  if (!items) return items.take_error();
  publish(std::move(*items));
  return problems;
}

template <typename Spec>
void Catalog<Spec>::apply_locked(const json::value& doc, std::optional<uint64_t> revision) {
  using T = CatalogTraits<Spec>;
  std::vector<std::string> problems;
  auto items = parse_document(doc, true, &problems);
  if (!items) {
    log().error("{}: {} (the {}s served are kept)", store_->where(), items.error().message, T::noun);
    return;
  }
  // What changed, by name, for the listeners (list_changed, resources/updated).
  auto before = snapshot();
  if (revision && *revision < before->revision) return;  // an older revision than the one served
  std::vector<CatalogChange> changes;
  for (const auto& i : *items) {
    auto old = before->find(i->name);
    if (!old) changes.push_back(CatalogChange{CatalogChange::Added, i->name, T::uri_of(*i)});
    else if (json::serialize(old->raw) != json::serialize(i->raw)) changes.push_back(CatalogChange{CatalogChange::Updated, i->name, T::uri_of(*old)});
  }
  for (const auto& old : before->items) {
    bool kept = std::any_of(items->begin(), items->end(), [&](const auto& i) { return i->name == old->name; });
    if (!kept) changes.push_back(CatalogChange{CatalogChange::Removed, old->name, T::uri_of(*old)});
  }
  if (changes.empty() && (!revision || *revision == before->revision)) return;
  publish(std::move(*items), revision);
  for (const auto& c : changes) snap_.notify(c);
}

template <typename Spec>
void Catalog<Spec>::apply(const json::value& doc, uint64_t revision) {
  std::lock_guard lock(mu_);
  apply_locked(doc, revision);
}

template <typename Spec>
Result<std::shared_ptr<const Spec>> Catalog<Spec>::commit(const std::function<Result<void>(json::value&)>& edit,
                                                          std::shared_ptr<const Spec> result, std::vector<std::shared_ptr<const Spec>> items,
                                                          CatalogChange change) {
  if (!store_) {
    publish(std::move(items));
    snap_.notify(change);
    return result;
  }
  json::value committed;
  auto r = store_->commit([&](json::value& doc) -> Result<void> {
    if (auto e = edit(doc); !e) return e;
    committed = doc;
    return {};
  });
  if (!r) return r.take_error();
  if (store_->shared()) {
    // The store's document may hold other replicas' changes too: serve exactly what it holds.
    apply_locked(committed, *r);
    return result;
  }
  publish(std::move(items));
  snap_.notify(change);
  return result;
}

namespace {

// In a shared store, the document may have changed through another replica since this one last
// reconciled: the edit checks again against what is committed there.
template <typename T>
bool doc_has(json::value& doc, std::string_view name) {
  for (const auto& path : T::lists()) {
    for (const auto& e : list_in(doc, path)) {
      if (same_name(e, name)) return true;
    }
  }
  return false;
}

}  // namespace

template <typename Spec>
Result<std::shared_ptr<const Spec>> Catalog<Spec>::add(const json::value& body) {
  using T = CatalogTraits<Spec>;
  auto parsed = T::parse_body(body);
  if (!parsed) return parsed.take_error();
  auto spec = std::make_shared<const Spec>(std::move(*parsed));
  const std::string& uri = T::uri_of(*spec);
  std::lock_guard lock(mu_);
  auto snap = snapshot();
  for (const auto& other : snap->items) {
    if (other->name == spec->name) {
      return Error(ErrorKind::AlreadyExists, fmt::format("a {} named \"{}\" already exists", T::noun, spec->name));
    }
    if (!uri.empty() && T::uri_of(*other) == uri) {
      return Error(ErrorKind::AlreadyExists, fmt::format("the {} \"{}\" already uses the uri \"{}\"", T::noun, other->name, uri));
    }
  }
  bool shared = store_ && store_->shared();
  auto edit = [&](json::value& doc) -> Result<void> {
    if (shared && doc_has<T>(doc, spec->name)) {
      return Error(ErrorKind::Conflict, fmt::format("a {} named \"{}\" was added through another replica meanwhile", T::noun, spec->name));
    }
    list_in(doc, T::lists()[T::list_of(*spec)]).push_back(spec->raw);
    return {};
  };
  auto items = snap->items;
  items.push_back(spec);
  return commit(edit, spec, std::move(items), CatalogChange{CatalogChange::Added, spec->name, uri});
}

template <typename Spec>
Result<std::shared_ptr<const Spec>> Catalog<Spec>::update(std::string_view name, const json::value& body) {
  using T = CatalogTraits<Spec>;
  auto named = body_with_name(body, name, T::noun);
  if (!named) return named.take_error();
  auto parsed = T::parse_body(*named);
  if (!parsed) return parsed.take_error();
  auto spec = std::make_shared<const Spec>(std::move(*parsed));
  const std::string& uri = T::uri_of(*spec);
  std::lock_guard lock(mu_);
  auto snap = snapshot();
  auto old = snap->find(name);
  if (!old) return Error(ErrorKind::NotFound, fmt::format("no {} named \"{}\"", T::noun, name));
  for (const auto& other : snap->items) {
    if (other->name != name && !uri.empty() && T::uri_of(*other) == uri) {
      return Error(ErrorKind::AlreadyExists, fmt::format("the {} \"{}\" already uses the uri \"{}\"", T::noun, other->name, uri));
    }
  }
  bool shared = store_ && store_->shared();
  auto edit = [&](json::value& doc) -> Result<void> {
    size_t from = T::list_of(*old), to = T::list_of(*spec);
    if (shared) {
      // Linearised: the entry must still be the one this replica served when the change began.
      const json::value* current = nullptr;
      for (const auto& path : T::lists()) {
        for (const auto& e : list_in(doc, path)) {
          if (same_name(e, name)) current = &e;
        }
      }
      if (!current) return Error(ErrorKind::NotFound, fmt::format("no {} named \"{}\" (removed through another replica)", T::noun, name));
      if (json::serialize(*current) != json::serialize(json::value(old->raw))) {
        return Error(ErrorKind::Conflict, fmt::format("the {} \"{}\" was changed through another replica meanwhile; retry", T::noun, name));
      }
    }
    // A resource may move between the static and dynamic lists: one document, one commit.
    if (from == to) {
      for (auto& e : list_in(doc, T::lists()[from])) {
        if (same_name(e, name)) e = spec->raw;
      }
    } else {
      erase_named(list_in(doc, T::lists()[from]), name);
      list_in(doc, T::lists()[to]).push_back(spec->raw);
    }
    return {};
  };
  auto items = snap->items;
  for (auto& i : items) {
    if (i->name == name) i = spec;
  }
  return commit(edit, spec, std::move(items), CatalogChange{CatalogChange::Updated, spec->name, T::uri_of(*old)});
}

template <typename Spec>
Result<std::shared_ptr<const Spec>> Catalog<Spec>::remove(std::string_view name) {
  using T = CatalogTraits<Spec>;
  std::lock_guard lock(mu_);
  auto snap = snapshot();
  auto old = snap->find(name);
  if (!old) return Error(ErrorKind::NotFound, fmt::format("no {} named \"{}\"", T::noun, name));
  bool shared = store_ && store_->shared();
  auto edit = [&](json::value& doc) -> Result<void> {
    if (shared && !doc_has<T>(doc, name)) {
      return Error(ErrorKind::NotFound, fmt::format("no {} named \"{}\" (removed through another replica)", T::noun, name));
    }
    erase_named(list_in(doc, T::lists()[T::list_of(*old)]), name);
    return {};
  };
  std::vector<std::shared_ptr<const Spec>> items;
  for (const auto& i : snap->items) {
    if (i->name != name) items.push_back(i);
  }
  return commit(edit, old, std::move(items), CatalogChange{CatalogChange::Removed, old->name, T::uri_of(*old)});
}

template class Catalog<ResourceSpec>;
template class Catalog<PromptSpec>;

}  // namespace wasimancer::registry
