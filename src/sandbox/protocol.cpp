#include "sandbox/protocol.hpp"

#include "sandbox/wire.hpp"

namespace wasimancer::sandbox {

namespace {

void put_type(Writer& w, const engine::FuncType& t) {
  w.u32(static_cast<uint32_t>(t.params.size()));
  for (auto v : t.params) w.u8(static_cast<uint8_t>(v));
  w.u32(static_cast<uint32_t>(t.results.size()));
  for (auto v : t.results) w.u8(static_cast<uint8_t>(v));
}

engine::ValType val_type(Reader& r) {
  uint8_t v = r.u8();
  return v <= static_cast<uint8_t>(engine::ValType::ExternRef) ? static_cast<engine::ValType>(v) : engine::ValType::I32;
}

engine::FuncType get_type(Reader& r) {
  engine::FuncType t;
  uint32_t np = r.count(1);
  for (uint32_t i = 0; i < np; ++i) t.params.push_back(val_type(r));
  uint32_t nr = r.count(1);
  for (uint32_t i = 0; i < nr; ++i) t.results.push_back(val_type(r));
  return t;
}

engine::ExternKind extern_kind(Reader& r) {
  uint8_t v = r.u8();
  return v <= static_cast<uint8_t>(engine::ExternKind::Tag) ? static_cast<engine::ExternKind>(v) : engine::ExternKind::Tag;
}

void put_limits(Writer& w, const host::PluginLimits& l) {
  w.u32(l.max_pages).u32(l.timeout_ms).u64(l.max_http_response_bytes).u64(l.max_var_bytes).u64(l.max_log_bytes);
}

host::PluginLimits get_limits(Reader& r) {
  host::PluginLimits l;
  l.max_pages = r.u32();
  l.timeout_ms = r.u32();
  l.max_http_response_bytes = r.u64();
  l.max_var_bytes = r.u64();
  l.max_log_bytes = r.u64();
  return l;
}

void put_headers(Writer& w, const std::vector<std::pair<std::string, std::string>>& h) {
  w.u32(static_cast<uint32_t>(h.size()));
  for (const auto& [k, v] : h) w.str(k).str(v);
}

std::vector<std::pair<std::string, std::string>> get_headers(Reader& r) {
  std::vector<std::pair<std::string, std::string>> h;
  uint32_t n = r.count(8);
  for (uint32_t i = 0; i < n; ++i) {
    std::string k(r.str());
    std::string v(r.str());
    h.emplace_back(std::move(k), std::move(v));
  }
  return h;
}

template <typename T>
std::optional<T> finish(const Reader& r, T value) {
  if (!r.done()) return std::nullopt;
  return value;
}

}  // namespace

uint8_t wire_kind(ErrorKind k) { return static_cast<uint8_t>(k); }
ErrorKind kind_from_wire(uint8_t v) {
  return v <= static_cast<uint8_t>(ErrorKind::Internal) ? static_cast<ErrorKind>(v) : ErrorKind::Internal;
}

std::string encode(const LoadRequest& r) {
  Writer w;
  w.str(r.name).str(std::string_view(reinterpret_cast<const char*>(r.wasm.data()), r.wasm.size())).map(r.config);
  put_limits(w, r.limits);
  w.u8(r.http_response_headers).i32(static_cast<int32_t>(r.log_level)).str(r.native_library).str(r.native_description).u8(r.command);
  w.u32(static_cast<uint32_t>(r.grants.size()));
  for (const auto& g : r.grants) w.str(g.host_path).str(g.guest_path).u8(g.writable);
  return w.bytes();
}

std::optional<LoadRequest> decode_load(std::string_view payload) {
  Reader r(payload);
  LoadRequest q;
  q.name = std::string(r.str());
  auto wasm = r.str();
  q.wasm.assign(wasm.begin(), wasm.end());
  q.config = r.map();
  q.limits = get_limits(r);
  q.http_response_headers = r.u8() != 0;
  int32_t level = r.i32();
  q.log_level = (level >= 0 && level <= static_cast<int32_t>(LogLevel::Error)) || level == static_cast<int32_t>(LogLevel::Off)
                    ? static_cast<LogLevel>(level)
                    : LogLevel::Info;
  q.native_library = std::string(r.str());
  q.native_description = std::string(r.str());
  q.command = r.u8() != 0;
  uint32_t grants = r.u32();
  for (uint32_t i = 0; i < grants && i < 64; ++i) {
    host::PathGrant g;
    g.host_path = std::string(r.str());
    g.guest_path = std::string(r.str());
    g.writable = r.u8() != 0;
    q.grants.push_back(std::move(g));
  }
  if (grants > 64) return std::nullopt;
  return finish(r, std::move(q));
}

std::string encode(const ReadyInfo& info) {
  Writer w;
  const auto& m = info.module;
  w.str(m.sha256).u32(static_cast<uint32_t>(m.imports.size()));
  for (const auto& i : m.imports) {
    w.str(i.module).str(i.name).u8(static_cast<uint8_t>(i.kind));
    put_type(w, i.type);
  }
  w.u32(static_cast<uint32_t>(m.exports.size()));
  for (const auto& e : m.exports) {
    w.str(e.name).u8(static_cast<uint8_t>(e.kind));
    put_type(w, e.type);
  }
  w.u8(m.memory.has_value());
  if (m.memory) {
    w.u64(m.memory->initial_pages).u8(m.memory->max_pages.has_value()).u64(m.memory->max_pages.value_or(0));
  }
  w.u32(m.table_count).str(info.tier);
  return w.bytes();
}

std::optional<ReadyInfo> decode_ready(std::string_view payload) {
  Reader r(payload);
  ReadyInfo info;
  auto& m = info.module;
  m.sha256 = std::string(r.str());
  uint32_t ni = r.count(13);
  for (uint32_t k = 0; k < ni; ++k) {
    engine::ImportDesc d;
    d.module = std::string(r.str());
    d.name = std::string(r.str());
    d.kind = extern_kind(r);
    d.type = get_type(r);
    m.imports.push_back(std::move(d));
  }
  uint32_t ne = r.count(9);
  for (uint32_t k = 0; k < ne; ++k) {
    engine::ExportDesc d;
    d.name = std::string(r.str());
    d.kind = extern_kind(r);
    d.type = get_type(r);
    m.exports.push_back(std::move(d));
  }
  if (r.u8()) {
    engine::MemoryInfo mem;
    mem.initial_pages = r.u64();
    bool has_max = r.u8() != 0;
    uint64_t max = r.u64();
    if (has_max) mem.max_pages = max;
    m.memory = mem;
  }
  m.table_count = r.u32();
  info.tier = std::string(r.str());
  return finish(r, std::move(info));
}

std::string encode_error(const Error& e) {
  Writer w;
  w.u8(wire_kind(e.kind)).str(e.message);
  return w.bytes();
}

std::optional<Error> decode_error(std::string_view payload) {
  Reader r(payload);
  Error e;
  e.kind = kind_from_wire(r.u8());
  e.message = std::string(r.str());
  return finish(r, std::move(e));
}

std::string encode(const CallRequest& c) {
  Writer w;
  w.str(c.function).str(c.input).u8(c.timeout_ms.has_value()).u32(c.timeout_ms.value_or(0));
  w.u32(static_cast<uint32_t>(c.argv.size()));
  for (const auto& a : c.argv) w.str(a);
  return w.bytes();
}

std::optional<CallRequest> decode_call(std::string_view payload) {
  Reader r(payload);
  CallRequest c;
  c.function = std::string(r.str());
  c.input = std::string(r.str());
  bool has = r.u8() != 0;
  uint32_t ms = r.u32();
  if (has) c.timeout_ms = ms;
  uint32_t argc = r.count(4);
  for (uint32_t i = 0; i < argc; ++i) c.argv.emplace_back(r.str());
  return finish(r, std::move(c));
}

std::string encode(const CallReply& c) {
  Writer w;
  const auto& o = c.outcome;
  w.str(o.output).i32(o.rc).u8(o.error.has_value());
  if (o.error) w.u8(wire_kind(o.error->kind)).str(o.error->message);
  w.u8(o.note.has_value());
  if (o.note) w.str(*o.note);
  w.u8(c.reusable).u64(c.cpu_ms);
  return w.bytes();
}

std::optional<CallReply> decode_reply(std::string_view payload) {
  Reader r(payload);
  CallReply c;
  c.outcome.output = std::string(r.str());
  c.outcome.rc = r.i32();
  if (r.u8()) {
    Error e;
    e.kind = kind_from_wire(r.u8());
    e.message = std::string(r.str());
    c.outcome.error = std::move(e);
  }
  if (r.u8()) c.outcome.note = std::string(r.str());
  c.reusable = r.u8() != 0;
  c.cpu_ms = r.u64();
  return finish(r, std::move(c));
}

std::string encode(const host::HttpRequest& q) {
  Writer w;
  w.str(q.url).str(q.method);
  put_headers(w, q.headers);
  w.str(q.body).u8(q.has_body);
  return w.bytes();
}

std::optional<host::HttpRequest> decode_http_request(std::string_view payload) {
  Reader r(payload);
  host::HttpRequest q;
  q.url = std::string(r.str());
  q.method = std::string(r.str());
  q.headers = get_headers(r);
  q.body = std::string(r.str());
  q.has_body = r.u8() != 0;
  return finish(r, std::move(q));
}

std::string encode(const Result<host::HttpResponse>& res) {
  Writer w;
  w.u8(res.ok());
  if (res) {
    w.i32(res->status);
    put_headers(w, res->headers);
    w.str(res->body);
  } else {
    w.u8(wire_kind(res.error().kind)).str(res.error().message);
  }
  return w.bytes();
}

std::optional<Result<host::HttpResponse>> decode_http_response(std::string_view payload) {
  Reader r(payload);
  if (r.u8()) {
    host::HttpResponse resp;
    resp.status = r.i32();
    resp.headers = get_headers(r);
    resp.body = std::string(r.str());
    if (!r.done()) return std::nullopt;
    return Result<host::HttpResponse>(std::move(resp));
  }
  Error e;
  e.kind = kind_from_wire(r.u8());
  e.message = std::string(r.str());
  if (!r.done()) return std::nullopt;
  return Result<host::HttpResponse>(std::move(e));
}

}  // namespace wasimancer::sandbox
