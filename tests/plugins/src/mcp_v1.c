/* mcp_v1.c: a self-describing plugin with hyper-mcp's v1 interface (as mcp.run servlets have):
 *   describe() -> {"tools":[...]}; call({"params":{"name","arguments"}}) -> CallToolResult.
 * Tools: greet {name} -> "Hello, <name>!"; grow -> adds a tool "extra_<n>" and tells the host
 * (extism:host/user notify_tool_list_changed); extra_<n> -> "extra <n>"; anything else -> an
 * isError result. Its state (how many extras) lives in memory, as hyper-mcp plugins keep it. */
#include "mcp_json.h"

__attribute__((import_module("extism:host/user"), import_name("notify_tool_list_changed")))
extern void notify_tool_list_changed(void);

static int extras = 0;

WM_EXPORT(describe) int32_t describe(void) {
  out_reset();
  out_raw("{\"tools\":[{\"name\":\"greet\",\"description\":\"says hello\",\"inputSchema\":{\"type\":\"object\","
          "\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}},"
          "{\"name\":\"grow\",\"description\":\"adds a tool\",\"inputSchema\":{\"type\":\"object\"}}");
  for (int i = 1; i <= extras; i++) {
    char b[21];
    b[wm_fmt_i64(i, b)] = 0;
    out_raw(",{\"name\":\"extra_");
    out_raw(b);
    out_raw("\",\"description\":\"an added tool\",\"inputSchema\":{\"type\":\"object\"}}");
  }
  out_raw("]}");
  out_send();
  return 0;
}

WM_EXPORT(call) int32_t call(void) {
  const char *in = read_input();
  char name[64], arg[256], msg[400];
  if (!json_str(in, "name", name, sizeof name)) { text_result("no tool name", 1); return 0; }
  if (strcmp(name, "greet") == 0) {
    const char *args = strstr(in, "\"arguments\"");
    if (!args || !json_str(args, "name", arg, sizeof arg)) { text_result("greet needs a name", 1); return 0; }
    strcpy(msg, "Hello, ");
    strcat(msg, arg);
    strcat(msg, "!");
    text_result(msg, 0);
  } else if (strcmp(name, "grow") == 0) {
    extras++;
    notify_tool_list_changed();
    char b[21];
    b[wm_fmt_i64(extras, b)] = 0;
    strcpy(msg, "now ");
    strcat(msg, b);
    strcat(msg, " extra tools");
    text_result(msg, 0);
  } else if (strncmp(name, "extra_", 6) == 0) {
    strcpy(msg, "extra ");
    strncat(msg, name + 6, 20);
    text_result(msg, 0);
  } else {
    strcpy(msg, "unknown tool ");
    strncat(msg, name, 60);
    text_result(msg, 1);
  }
  return 0;
}
