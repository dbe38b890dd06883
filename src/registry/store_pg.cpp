#include "registry/store_pg.hpp"

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/thread_name.hpp"

#ifdef WASIMANCER_HAVE_POSTGRESQL

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>

namespace wasimancer::registry {

namespace json = boost::json;

namespace {

constexpr int64_t kMigrationLock = 0x7761736d616e6365;  // "wasmance": the advisory lock of migrations
constexpr const char* kChannel = "wasimancer";
// How long a module no plugin uses is kept: a replica still reconciling to an older revision
// (which used it) finds its bytes; an update undone by a rollback within it re-uses them.
constexpr const char* kBlobGrace = "1 hour";

// The migrations, in order; migration i brings the schema to version i + 1. Never edit one that
// shipped: add another.
const std::vector<std::string>& migrations() {
  static const std::vector<std::string> m = {
      R"sql(
CREATE TABLE wasimancer_state (id int PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL);
INSERT INTO wasimancer_state VALUES (1, 0);
CREATE TABLE wasimancer_wasm (sha256 text PRIMARY KEY, bytes bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE wasimancer_plugins (name text PRIMARY KEY, position int NOT NULL, kind text NOT NULL, body json NOT NULL,
                                 sha256 text NOT NULL REFERENCES wasimancer_wasm (sha256), revision bigint NOT NULL);
CREATE TABLE wasimancer_resources (name text PRIMARY KEY, position int NOT NULL, kind text NOT NULL, body json NOT NULL,
                                   sha256 text, revision bigint NOT NULL);
CREATE TABLE wasimancer_prompts (name text PRIMARY KEY, position int NOT NULL, kind text NOT NULL, body json NOT NULL,
                                 sha256 text, revision bigint NOT NULL);
)sql",
      R"sql(
CREATE TABLE wasimancer_tasks (id text PRIMARY KEY, body text NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX wasimancer_tasks_expiry ON wasimancer_tasks (expires_at);
)sql",
      // Modules no plugin uses any more are collected (kBlobGrace after they stopped being used).
      R"sql(
ALTER TABLE wasimancer_wasm ADD COLUMN unreferenced_since timestamptz;
)sql",
  };
  return m;
}

// How a collection maps to its table: the document's lists (a path of keys) and their kinds.
struct Layout {
  const char* table;
  std::vector<std::pair<std::vector<std::string>, std::string>> lists;  // path, kind
  bool blobs;  // entries carry wasmSha256 (plugins)
};

const Layout& layout(Collection c) {
  static const Layout plugins{"wasimancer_plugins", {{{"plugins"}, "plugin"}}, true};
  static const Layout resources{"wasimancer_resources", {{{"resources", "static"}, "static"}, {{"resources", "dynamic"}, "dynamic"}}, false};
  static const Layout prompts{"wasimancer_prompts", {{{"prompts", "predefined"}, "predefined"}}, false};
  switch (c) {
    case Collection::Plugins: return plugins;
    case Collection::Resources: return resources;
    case Collection::Prompts: return prompts;
  }
  return plugins;
}

const char* collection_name(Collection c) {
  switch (c) {
    case Collection::Plugins: return "plugins";
    case Collection::Resources: return "resources";
    case Collection::Prompts: return "prompts";
  }
  return "?";
}

constexpr std::string_view kWasmKey = "wasmSha256";  // as in plugin_manager.cpp

json::array& list_at(json::value& doc, const std::vector<std::string>& path) {
  json::value* cur = &doc;
  for (const auto& key : path) {
    if (!cur->is_object()) *cur = json::object{};
    cur = &cur->as_object()[key];
  }
  if (!cur->is_array()) *cur = json::array{};
  return cur->as_array();
}

struct ResultPtr {
  PGresult* r = nullptr;
  explicit ResultPtr(PGresult* p) : r(p) {}
  ResultPtr(const ResultPtr&) = delete;
  ResultPtr& operator=(const ResultPtr&) = delete;
  ~ResultPtr() {
    if (r) PQclear(r);
  }
  bool ok() const {
    auto s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const { return PQntuples(r); }
  std::string text(int row, int col) const { return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col)); }
  bool null(int row, int col) const { return PQgetisnull(r, row, col) != 0; }
};

std::string redact(const std::string& url) {
  // postgresql://user:secret@host/db -> postgresql://user:***@host/db
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace

// One connection, reconnected on demand.
class PgConnection {
 public:
  explicit PgConnection(std::string url) : url_(std::move(url)) {}
  ~PgConnection() { close(); }

  void close() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  // Connected (reconnecting if the connection broke), or Unavailable.
  Result<PGconn*> get() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return conn_;
    close();
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"5", "wasimancer", url_.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      std::string why = conn_ ? PQerrorMessage(conn_) : "out of memory";
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      close();
      return Error(ErrorKind::Unavailable, fmt::format("the database cannot be reached ({}): {}", redact(url_), why));
    }
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    return conn_;
  }

  // Runs one statement with text parameters (and binary ones where `binary` says so).
  Result<std::shared_ptr<ResultPtr>> exec(const std::string& sql, const std::vector<std::optional<std::string>>& params = {},
                                          const std::vector<bool>& binary = {}, bool binary_result = false) {
    auto c = get();
    if (!c) return c.take_error();
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (size_t i = 0; i < params.size(); ++i) {
      values.push_back(params[i] ? params[i]->data() : nullptr);
      lengths.push_back(params[i] ? int(params[i]->size()) : 0);
      formats.push_back(i < binary.size() && binary[i] ? 1 : 0);
    }
    // Without parameters, the simple protocol (a migration holds several statements).
    auto res = std::make_shared<ResultPtr>(params.empty() && !binary_result
                                               ? PQexec(*c, sql.c_str())
                                               : PQexecParams(*c, sql.c_str(), int(params.size()), nullptr, values.data(),
                                                              lengths.data(), formats.data(), binary_result ? 1 : 0));
    if (!res->ok()) {
      std::string why = res->r ? PQresultErrorMessage(res->r) : PQerrorMessage(*c);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      if (PQstatus(*c) != CONNECTION_OK) {
        close();
        return Error(ErrorKind::Unavailable, fmt::format("the database connection was lost: {}", why));
      }
      const char* state = res->r ? PQresultErrorField(res->r, PG_DIAG_SQLSTATE) : nullptr;
      if (state && (std::string_view(state) == "40001" || std::string_view(state) == "40P01")) {
        return Error(ErrorKind::Conflict, fmt::format("the database refused the change (concurrent changes): {}; retry", why));
      }
      return Error(ErrorKind::Io, fmt::format("database error: {}", why));
    }
    return res;
  }

  void rollback() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) PQclear(PQexec(conn_, "ROLLBACK"));
  }

  PGconn* raw() const { return conn_; }
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  PGconn* conn_ = nullptr;
};

struct PgStore::Impl {
  explicit Impl(std::string url) : url(url), conn(url) {}
  std::string url;
  std::mutex mu;  // guards conn
  PgConnection conn;
  std::thread watcher;
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stopping = false;

  Result<json::value> read_collection(Collection c);
  Result<uint64_t> commit(Collection c, const DocumentStore::Edit& edit, const std::vector<Blob>& blobs, std::optional<uint64_t> if_revision);
};

Result<json::value> PgStore::Impl::read_collection(Collection c) {
  const Layout& l = layout(c);
  auto rows = conn.exec(fmt::format("SELECT name, kind, body::text, sha256 FROM {} ORDER BY position", l.table));
  if (!rows) return rows.take_error();
  json::value doc = json::object{};
  for (const auto& [path, kind] : l.lists) (void)list_at(doc, path);
  const ResultPtr& r = **rows;
  for (int i = 0; i < r.rows(); ++i) {
    std::string kind = r.text(i, 1);
    boost::system::error_code ec;
    json::value body = json::parse(r.text(i, 2), ec);
    if (ec || !body.is_object()) {
      log().error("{} row \"{}\" is not a JSON object: skipped", l.table, r.text(i, 0));
      continue;
    }
    if (l.blobs && !r.null(i, 3)) body.as_object()[kWasmKey] = r.text(i, 3);
    for (const auto& [path, k] : l.lists) {
      if (k == kind) list_at(doc, path).push_back(std::move(body));
    }
  }
  return doc;
}

Result<uint64_t> PgStore::Impl::commit(Collection c, const DocumentStore::Edit& edit, const std::vector<Blob>& blobs,
                                       std::optional<uint64_t> if_revision) {
  const Layout& l = layout(c);
  std::lock_guard lock(mu);
  auto fail = [&](Error e) -> Result<uint64_t> {
    conn.rollback();
    return e;
  };
  if (auto r = conn.exec("BEGIN"); !r) return fail(r.take_error());
  auto state = conn.exec("SELECT revision FROM wasimancer_state WHERE id = 1 FOR UPDATE");
  if (!state) return fail(state.take_error());
  uint64_t current = std::stoull((*state)->text(0, 0));
  if (if_revision && *if_revision != current) {
    return fail(Error(ErrorKind::Conflict, fmt::format("If-Match: revision {} is not the current one ({}): something changed meanwhile; "
                                                       "fetch GET /plugins and retry",
                                                       *if_revision, current)));
  }
  auto doc = read_collection(c);
  if (!doc) return fail(doc.take_error());
  json::value before = *doc;
  if (auto r = edit(*doc); !r) return fail(r.take_error());
  uint64_t next = current + 1;
  std::string next_s = std::to_string(next);
  for (const auto& b : blobs) {
    auto r = conn.exec("INSERT INTO wasimancer_wasm (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING", {b.sha256, b.bytes},
                       {false, true});
    if (!r) return fail(r.take_error());
  }
  // The rows: every entry of the document, in order; rows of entries no longer there go.
  std::vector<std::string> names;
  int position = 0;
  for (const auto& [path, kind] : l.lists) {
    for (auto e : list_at(*doc, path)) {
      if (!e.is_object()) continue;
      auto* n = e.as_object().if_contains("name");
      if (!n || !n->is_string()) continue;
      std::string name(n->as_string());
      std::optional<std::string> sha;
      if (l.blobs) {
        auto* s = e.as_object().if_contains(kWasmKey);
        if (!s || !s->is_string()) return fail(Error(ErrorKind::Internal, fmt::format("plugin \"{}\" has no wasm hash", name)));
        sha = std::string(s->as_string());
        e.as_object().erase(kWasmKey);
      }
      names.push_back(name);
      auto r = conn.exec(fmt::format("INSERT INTO {0} (name, position, kind, body, sha256, revision) VALUES ($1, $2, $3, $4::json, $5, $6) "
                                     "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, kind = EXCLUDED.kind, body = EXCLUDED.body, "
                                     "sha256 = EXCLUDED.sha256, revision = CASE WHEN {0}.body::text IS DISTINCT FROM EXCLUDED.body::text OR "
                                     "{0}.sha256 IS DISTINCT FROM EXCLUDED.sha256 OR {0}.kind <> EXCLUDED.kind THEN EXCLUDED.revision ELSE "
                                     "{0}.revision END",
                                     l.table),
                         {name, std::to_string(position++), kind, json::serialize(e), sha, next_s});
      if (!r) return fail(r.take_error());
    }
  }
  // Names as a JSON array: one parameter.
  json::array name_list;
  for (const auto& n : names) name_list.push_back(json::string(n));
  auto del = conn.exec(fmt::format("DELETE FROM {} WHERE name NOT IN (SELECT json_array_elements_text($1::json))", l.table),
                       {json::serialize(name_list)});
  if (!del) return fail(del.take_error());
  if (l.blobs) {
    // Modules: those used again are kept, those no longer used are marked, and those unused for
    // longer than kBlobGrace go (the plugins' foreign key keeps any module still in use).
    static const std::string kUsed = "EXISTS (SELECT 1 FROM wasimancer_plugins p WHERE p.sha256 = w.sha256)";
    for (const std::string& sql : {
             "UPDATE wasimancer_wasm w SET unreferenced_since = NULL WHERE unreferenced_since IS NOT NULL AND " + kUsed,
             "UPDATE wasimancer_wasm w SET unreferenced_since = now() WHERE unreferenced_since IS NULL AND NOT " + kUsed,
             fmt::format("DELETE FROM wasimancer_wasm w WHERE unreferenced_since < now() - interval '{}' AND NOT {}", kBlobGrace, kUsed)}) {
      if (auto r = conn.exec(sql); !r) return fail(r.take_error());
    }
  }
  if (auto r = conn.exec("UPDATE wasimancer_state SET revision = $1 WHERE id = 1", {next_s}); !r) return fail(r.take_error());
  if (auto r = conn.exec("SELECT pg_notify($1, $2)", {std::string(kChannel), next_s}); !r) return fail(r.take_error());
  if (auto r = conn.exec("COMMIT"); !r) {
    Error e = r.take_error();
    if (e.kind == ErrorKind::Unavailable) e.message += " (the change may or may not have been committed: GET /plugins tells)";
    return fail(e);
  }
  return next;
}

namespace {

class PgDocument : public DocumentStore {
 public:
  PgDocument(PgStore::Impl& impl, Collection c) : impl_(impl), c_(c) {}
  std::string where() const override { return fmt::format("PostgreSQL ({})", collection_name(c_)); }
  bool shared() const override { return true; }
  Result<std::optional<json::value>> load() override {
    std::lock_guard lock(impl_.mu);
    auto doc = impl_.read_collection(c_);
    if (!doc) return doc.take_error();
    return std::optional<json::value>(std::move(*doc));
  }
  Result<uint64_t> commit(const Edit& edit, const std::vector<Blob>& blobs, std::optional<uint64_t> if_revision) override {
    return impl_.commit(c_, edit, blobs, if_revision);
  }
  Result<std::string> blob(std::string_view sha256) override {
    std::lock_guard lock(impl_.mu);
    auto r = impl_.conn.exec("SELECT bytes FROM wasimancer_wasm WHERE sha256 = $1", {std::string(sha256)}, {}, true);
    if (!r) return r.take_error();
    if ((*r)->rows() == 0) return Error(ErrorKind::NotFound, fmt::format("the database has no wasm {}", sha256));
    return (*r)->text(0, 0);
  }

 private:
  PgStore::Impl& impl_;
  Collection c_;
};

}  // namespace

bool PgStore::available() { return true; }
int PgStore::schema_version() { return int(migrations().size()); }

PgStore::PgStore() = default;

PgStore::~PgStore() { stop_watching(); }

void PgStore::stop_watching() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->watch_mu);
    impl_->stopping = true;
  }
  impl_->watch_cv.notify_all();
  if (impl_->watcher.joinable()) impl_->watcher.join();
}

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& url) {
  std::unique_ptr<PgStore> store(new PgStore());
  store->impl_ = std::make_unique<Impl>(url);
  PgConnection& c = store->impl_->conn;
  // Migrations: one replica at a time (the others wait on the advisory lock, then find nothing
  // left to do). Each migration and its version row commit together.
  if (auto r = c.exec("SELECT pg_advisory_lock($1)", {std::to_string(kMigrationLock)}); !r) return r.take_error();
  auto unlock = [&] { (void)c.exec("SELECT pg_advisory_unlock($1)", {std::to_string(kMigrationLock)}); };
  auto run = [&]() -> Result<void> {
    if (auto r = c.exec("CREATE TABLE IF NOT EXISTS wasimancer_schema (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"); !r) {
      return r.take_error();
    }
    auto v = c.exec("SELECT coalesce(max(version), 0) FROM wasimancer_schema");
    if (!v) return v.take_error();
    int have = std::stoi((*v)->text(0, 0));
    int want = schema_version();
    if (have > want) {
      return Error(ErrorKind::InvalidArgument, fmt::format("the database schema is version {}, newer than this server knows ({}): "
                                                           "upgrade this replica",
                                                           have, want));
    }
    for (int i = have; i < want; ++i) {
      if (auto r = c.exec("BEGIN"); !r) return r.take_error();
      auto r = c.exec(migrations()[size_t(i)]);
      if (r) r = c.exec("INSERT INTO wasimancer_schema (version) VALUES ($1)", {std::to_string(i + 1)});
      if (r) r = c.exec("COMMIT");
      if (!r) {
        c.rollback();
        return Error(r.error().kind, fmt::format("database migration {} failed: {}", i + 1, r.error().message));
      }
      log().info("database migrated to schema version {}", i + 1);
    }
    return {};
  };
  auto r = run();
  unlock();
  if (!r) return r.take_error();
  store->connected_ = true;
  return store;
}

std::unique_ptr<DocumentStore> PgStore::document(Collection c) { return std::make_unique<PgDocument>(*impl_, c); }

Result<uint64_t> PgStore::revision() {
  std::lock_guard lock(impl_->mu);
  auto r = impl_->conn.exec("SELECT revision FROM wasimancer_state WHERE id = 1");
  if (!r) return r.take_error();
  return uint64_t(std::stoull((*r)->text(0, 0)));
}

Result<StoreState> PgStore::read_all() {
  std::lock_guard lock(impl_->mu);
  PgConnection& c = impl_->conn;
  auto fail = [&](Error e) -> Result<StoreState> {
    c.rollback();
    return e;
  };
  if (auto r = c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !r) return fail(r.take_error());
  StoreState s;
  auto rev = c.exec("SELECT revision FROM wasimancer_state WHERE id = 1");
  if (!rev) return fail(rev.take_error());
  s.revision = std::stoull((*rev)->text(0, 0));
  for (auto [col, out] : {std::pair{Collection::Plugins, &s.plugins}, std::pair{Collection::Resources, &s.resources},
                          std::pair{Collection::Prompts, &s.prompts}}) {
    auto doc = impl_->read_collection(col);
    if (!doc) return fail(doc.take_error());
    *out = std::move(*doc);
  }
  if (auto r = c.exec("COMMIT"); !r) return fail(r.take_error());
  return s;
}

void PgStore::watch(std::function<void(uint64_t)> on_revision, std::chrono::milliseconds poll_every) {
  impl_->watcher = named_thread("wm-pg-watch", [this, on_revision = std::move(on_revision), poll_every] {
    PgConnection listen(impl_->url);
    auto backoff = std::chrono::milliseconds(200);
    bool was_down = false;
    auto wait = [&](std::chrono::milliseconds d) {
      std::unique_lock lock(impl_->watch_mu);
      return !impl_->watch_cv.wait_for(lock, d, [&] { return impl_->stopping; });
    };
    auto stopping = [&] {
      std::lock_guard lock(impl_->watch_mu);
      return impl_->stopping;
    };
    while (!stopping()) {
      auto ok = listen.exec(fmt::format("LISTEN {}", kChannel));
      auto rev = ok ? listen.exec("SELECT revision FROM wasimancer_state WHERE id = 1") : Result<std::shared_ptr<ResultPtr>>(ok.take_error());
      if (!rev) {
        if (connected_.exchange(false) || !was_down) {
          log().warn("database unreachable ({}): serving the last revision; reconnecting", rev.error().message);
        }
        was_down = true;
        listen.close();
        if (!wait(backoff)) break;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
        continue;
      }
      if (was_down) log().info("database reachable again: catching up");
      was_down = false;
      backoff = std::chrono::milliseconds(200);
      connected_ = true;
      on_revision(std::stoull((*rev)->text(0, 0)));  // catch up from the tables
      // Wait for notifications; look at the revision every poll_every anyway.
      auto last_poll = std::chrono::steady_clock::now();
      while (!stopping()) {
        PGconn* pc = listen.raw();
        if (!pc || PQstatus(pc) != CONNECTION_OK) break;
        pollfd pfd{PQsocket(pc), POLLIN, 0};
        int n = ::poll(&pfd, 1, 200);
        if (n < 0 && errno != EINTR) break;
        if (PQconsumeInput(pc) == 0) break;
        uint64_t newest = 0;
        while (PGnotify* note = PQnotifies(pc)) {
          try {
            newest = std::max<uint64_t>(newest, std::stoull(note->extra));
          } catch (...) {
          }
          PQfreemem(note);
        }
        if (newest) on_revision(newest);
        if (std::chrono::steady_clock::now() - last_poll >= poll_every) {
          last_poll = std::chrono::steady_clock::now();
          auto r = listen.exec("SELECT revision FROM wasimancer_state WHERE id = 1");
          if (!r) break;
          on_revision(std::stoull((*r)->text(0, 0)));
        }
      }
      listen.close();
    }
  });
}

Result<void> PgStore::create_task(const std::string& id, const std::string& body, int64_t expires_ms) {
  std::lock_guard lock(impl_->mu);
  auto r = impl_->conn.exec(
      "INSERT INTO wasimancer_tasks (id, body, expires_at) VALUES ($1, $2, to_timestamp($3::double precision / 1000)) "
      "ON CONFLICT (id) DO NOTHING RETURNING id",
      {id, body, std::to_string(expires_ms)});
  if (!r) return r.take_error();
  if ((*r)->rows() == 0) return Error(ErrorKind::AlreadyExists, "a task with this id exists");
  return {};
}

Result<std::optional<std::string>> PgStore::get_task(const std::string& id) {
  std::lock_guard lock(impl_->mu);
  auto r = impl_->conn.exec("SELECT body FROM wasimancer_tasks WHERE id = $1", {id});
  if (!r) return r.take_error();
  if ((*r)->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>((*r)->text(0, 0));
}

Result<std::optional<std::string>> PgStore::update_task(const std::string& id,
                                                        const std::function<bool(std::string& body, int64_t& expires_ms)>& change) {
  std::lock_guard lock(impl_->mu);
  PgConnection& c = impl_->conn;
  auto fail = [&](Error e) -> Result<std::optional<std::string>> {
    c.rollback();
    return e;
  };
  if (auto r = c.exec("BEGIN"); !r) return fail(r.take_error());
  auto row = c.exec("SELECT body, (extract(epoch FROM expires_at) * 1000)::bigint FROM wasimancer_tasks WHERE id = $1 FOR UPDATE", {id});
  if (!row) return fail(row.take_error());
  if ((*row)->rows() == 0) {
    c.rollback();
    return std::optional<std::string>();
  }
  std::string body = (*row)->text(0, 0);
  int64_t expires = std::stoll((*row)->text(0, 1));
  if (change(body, expires)) {
    auto u = c.exec("UPDATE wasimancer_tasks SET body = $2, expires_at = to_timestamp($3::double precision / 1000) WHERE id = $1",
                    {id, body, std::to_string(expires)});
    if (!u) return fail(u.take_error());
  }
  if (auto r = c.exec("COMMIT"); !r) return fail(r.take_error());
  return std::optional<std::string>(std::move(body));
}

Result<size_t> PgStore::remove_expired_tasks() {
  std::lock_guard lock(impl_->mu);
  auto r = impl_->conn.exec("DELETE FROM wasimancer_tasks WHERE expires_at < now()");
  if (!r) return r.take_error();
  const char* n = PQcmdTuples((*r)->r);
  return size_t(n && *n ? std::stoull(n) : 0);
}

}  // namespace wasimancer::registry

#else  // built without libpq

namespace wasimancer::registry {

struct PgStore::Impl {};
bool PgStore::available() { return false; }
int PgStore::schema_version() { return 0; }
PgStore::PgStore() = default;
PgStore::~PgStore() = default;
Result<std::unique_ptr<PgStore>> PgStore::open(const std::string&) {
  return Error(ErrorKind::InvalidArgument,
               "this wasimancer was built without PostgreSQL support (libpq-dev was missing at build time): "
               "install it (scripts/install-deps.sh) and rebuild, or unset WASIMANCER_DATABASE_URL");
}
std::unique_ptr<DocumentStore> PgStore::document(Collection) { return nullptr; }
Result<StoreState> PgStore::read_all() { return Error(ErrorKind::Unavailable, "no PostgreSQL support"); }
Result<uint64_t> PgStore::revision() { return Error(ErrorKind::Unavailable, "no PostgreSQL support"); }
void PgStore::watch(std::function<void(uint64_t)>, std::chrono::milliseconds) {}
void PgStore::stop_watching() {}
Result<void> PgStore::create_task(const std::string&, const std::string&, int64_t) { return Error(ErrorKind::Unavailable, "no PostgreSQL support"); }
Result<std::optional<std::string>> PgStore::get_task(const std::string&) { return Error(ErrorKind::Unavailable, "no PostgreSQL support"); }
Result<std::optional<std::string>> PgStore::update_task(const std::string&, const std::function<bool(std::string&, int64_t&)>&) {
  return Error(ErrorKind::Unavailable, "no PostgreSQL support");
}
Result<size_t> PgStore::remove_expired_tasks() { return Error(ErrorKind::Unavailable, "no PostgreSQL support"); }

}  // namespace wasimancer::registry

#endif
