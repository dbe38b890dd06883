#include "admin/multipart.hpp"

#include "core/text.hpp"

namespace wasimancer::admin {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The value of `param` in a header value like `form-data; name="x"; filename="y"`.
std::string header_param(std::string_view value, std::string_view param) {
  std::string lv = ascii_lower(value);
  size_t pos = 0;
  while ((pos = lv.find(ascii_lower(param) + "=", pos)) != std::string::npos) {
    bool boundary_ok = pos == 0 || lv[pos - 1] == ';' || lv[pos - 1] == ' ';
    size_t start = pos + param.size() + 1;
    if (!boundary_ok) {
      pos = start;
      continue;
    }
    if (start < value.size() && value[start] == '"') {
      std::string out;
      for (size_t i = start + 1; i < value.size(); ++i) {
        // Only \" and \\ are escapes; browsers and curl send other backslashes as they are.
        if (value[i] == '\\' && i + 1 < value.size() && (value[i + 1] == '"' || value[i + 1] == '\\')) {
          out.push_back(value[++i]);
        } else if (value[i] == '"') {
          return out;
        } else {
          out.push_back(value[i]);
        }
      }
      return out;
    }
    size_t end = value.find(';', start);
    return std::string(trim(value.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
  }
  return {};
}

}  // namespace

Result<std::vector<FormPart>> parse_multipart(std::string_view content_type, std::string_view body) {
  if (ascii_lower(content_type).rfind("multipart/form-data", 0) != 0) {
    return Error(ErrorKind::InvalidArgument, "the request must be multipart/form-data (curl -F wasmFile=@... -F pluginData=...)");
  }
  std::string boundary = header_param(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) return Error(ErrorKind::InvalidArgument, "the multipart boundary is missing");
  const std::string delim = "--" + boundary;
  std::vector<FormPart> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos) return Error(ErrorKind::InvalidArgument, "malformed multipart body: no boundary found");
  for (;;) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") break;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return Error(ErrorKind::InvalidArgument, "malformed multipart body: bad delimiter line");
    pos += 2;
    size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos) return Error(ErrorKind::InvalidArgument, "malformed multipart body: unterminated part headers");
    FormPart part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      auto colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name = ascii_lower(trim(line.substr(0, colon)));
        std::string_view value = trim(line.substr(colon + 1));
        if (name == "content-disposition") {
          part.name = header_param(value, "name");
          part.filename = header_param(value, "filename");
        } else if (name == "content-type") {
          part.content_type = std::string(value);
        }
      }
      if (eol == std::string_view::npos) break;
      headers.remove_prefix(eol + 2);
    }
    size_t data_start = headers_end + 4;
    size_t next = body.find("\r\n" + delim, data_start);
    if (next == std::string_view::npos) return Error(ErrorKind::InvalidArgument, "malformed multipart body: a part is not terminated");
    part.data = std::string(body.substr(data_start, next - data_start));
    if (part.name.empty()) return Error(ErrorKind::InvalidArgument, "malformed multipart body: a part has no name");
    parts.push_back(std::move(part));
    pos = next + 2;
    if (parts.size() > 64) return Error(ErrorKind::InvalidArgument, "too many multipart parts");
  }
  return parts;
}

}  // namespace wasimancer::admin
