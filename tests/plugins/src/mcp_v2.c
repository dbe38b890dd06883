/* mcp_v2.c: a self-describing plugin with hyper-mcp's v2 interface: every export
 * (list_tools, call_tool, list_prompts, get_prompt, list_resources, list_resource_templates,
 * read_resource, complete) and every host function of extism:host/user (create_elicitation,
 * create_message, list_roots, notify_logging_message, notify_progress, notify_resource_updated,
 * notify_{tool,prompt,resource}_list_changed). Inputs are {"request": ..., "context": ...}.
 *
 * Tools:  echo_args {..} -> the request's arguments as text
 *         ask -> create_elicitation({"message":"Proceed?","requestedSchema":...}) result as text
 *         sample -> create_message(...) result as text;  roots -> list_roots() result as text
 *         notify -> sends one of each notification, then "notified"
 *         add_prompt -> adds prompt "extra" and notify_prompt_list_changed()
 * Prompts: greeting {who} -> "Hello <who>" (+ extra once added)
 * Resources: mem://readme (text "read me"); template mem://items/{id} -> "item <id>"
 * complete: ["alpha", "beta"] for any argument. */
#include "mcp_json.h"

#define USER(n) __attribute__((import_module("extism:host/user"), import_name(#n)))
USER(create_elicitation) extern uint64_t create_elicitation(uint64_t);
USER(create_message) extern uint64_t create_message(uint64_t);
USER(list_roots) extern uint64_t list_roots(void);
USER(notify_logging_message) extern void notify_logging_message(uint64_t);
USER(notify_progress) extern void notify_progress(uint64_t);
USER(notify_resource_updated) extern void notify_resource_updated(uint64_t);
USER(notify_tool_list_changed) extern void notify_tool_list_changed(void);
USER(notify_prompt_list_changed) extern void notify_prompt_list_changed(void);
USER(notify_resource_list_changed) extern void notify_resource_list_changed(void);

static int extra_prompt = 0;
static char answer[4096];

WM_EXPORT(list_tools) int32_t list_tools(void) {
  out_reset();
  out_raw("{\"tools\":[");
  const char *names[] = {"echo_args", "ask", "sample", "roots", "notify", "add_prompt"};
  for (int i = 0; i < 6; i++) {
    if (i) out_raw(",");
    out_raw("{\"name\":");
    out_str(names[i]);
    out_raw(",\"description\":\"v2 test tool\",\"inputSchema\":{\"type\":\"object\"}}");
  }
  out_raw("]}");
  out_send();
  return 0;
}

static void host_answer(uint64_t h) {
  const char *t = handle_text(h, answer, sizeof answer);
  text_result(t ? t : "(nothing)", 0);
}

WM_EXPORT(call_tool) int32_t call_tool(void) {
  const char *in = read_input();
  char name[64];
  if (!json_str(in, "name", name, sizeof name)) { text_result("no tool name", 1); return 0; }
  if (strcmp(name, "echo_args") == 0) {
    const char *a = strstr(in, "\"arguments\":");
    if (!a) { text_result("{}", 0); return 0; }
    a += 12;
    /* the arguments object, up to its matching brace */
    int depth = 0;
    size_t n = 0;
    for (; a[n]; n++) {
      if (a[n] == '{') depth++;
      if (a[n] == '}' && --depth == 0) { n++; break; }
    }
    char buf[1024];
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, a, n);
    buf[n] = 0;
    text_result(buf, 0);
  } else if (strcmp(name, "ask") == 0) {
    host_answer(create_elicitation(wm_block_from_str(
        "{\"message\":\"Proceed?\",\"requestedSchema\":{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}}}}")));
  } else if (strcmp(name, "sample") == 0) {
    host_answer(create_message(wm_block_from_str(
        "{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"2+2?\"}}],\"maxTokens\":10}")));
  } else if (strcmp(name, "roots") == 0) {
    host_answer(list_roots());
  } else if (strcmp(name, "notify") == 0) {
    notify_logging_message(wm_block_from_str("{\"level\":\"info\",\"data\":{\"from\":\"mcp_v2\"}}"));
    notify_progress(wm_block_from_str("{\"progress\":1,\"total\":2,\"progressToken\":\"t\"}"));
    notify_resource_updated(wm_block_from_str("{\"uri\":\"mem://readme\"}"));
    notify_resource_list_changed();
    notify_tool_list_changed();
    text_result("notified", 0);
  } else if (strcmp(name, "add_prompt") == 0) {
    extra_prompt = 1;
    notify_prompt_list_changed();
    text_result("prompt added", 0);
  } else {
    text_result("unknown tool", 1);
  }
  return 0;
}

WM_EXPORT(list_prompts) int32_t list_prompts(void) {
  out_reset();
  out_raw("{\"prompts\":[{\"name\":\"greeting\",\"description\":\"greets someone\","
          "\"arguments\":[{\"name\":\"who\",\"description\":\"whom to greet\",\"required\":true}]}");
  if (extra_prompt) out_raw(",{\"name\":\"extra\",\"description\":\"added at run time\"}");
  out_raw("]}");
  out_send();
  return 0;
}

WM_EXPORT(get_prompt) int32_t get_prompt(void) {
  const char *in = read_input();
  char name[64], who[128] = "nobody", text[256];
  json_str(in, "name", name, sizeof name);
  const char *args = strstr(in, "\"arguments\"");
  if (args) json_str(args, "who", who, sizeof who);
  if (strcmp(name, "greeting") != 0 && !(extra_prompt && strcmp(name, "extra") == 0)) {
    wm_error_str("no such prompt");
    return 1;
  }
  strcpy(text, strcmp(name, "extra") == 0 ? "extra prompt" : "Hello ");
  if (strcmp(name, "greeting") == 0) strcat(text, who);
  out_reset();
  out_raw("{\"description\":\"a greeting\",\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":");
  out_str(text);
  out_raw("}}]}");
  out_send();
  return 0;
}

WM_EXPORT(list_resources) int32_t list_resources(void) {
  out_reset();
  out_raw("{\"resources\":[{\"uri\":\"mem://readme\",\"name\":\"readme\",\"mimeType\":\"text/plain\"}]}");
  out_send();
  return 0;
}

WM_EXPORT(list_resource_templates) int32_t list_resource_templates(void) {
  out_reset();
  out_raw("{\"resourceTemplates\":[{\"uriTemplate\":\"mem://items/{id}\",\"name\":\"item\",\"mimeType\":\"text/plain\"}]}");
  out_send();
  return 0;
}

WM_EXPORT(read_resource) int32_t read_resource(void) {
  const char *in = read_input();
  char uri[256], text[300];
  if (!json_str(in, "uri", uri, sizeof uri)) { wm_error_str("no uri"); return 1; }
  if (strcmp(uri, "mem://readme") == 0) strcpy(text, "read me");
  else if (strncmp(uri, "mem://items/", 12) == 0) { strcpy(text, "item "); strncat(text, uri + 12, 100); }
  else { wm_error_str("no such resource"); return 1; }
  out_reset();
  out_raw("{\"contents\":[{\"uri\":");
  out_str(uri);
  out_raw(",\"mimeType\":\"text/plain\",\"text\":");
  out_str(text);
  out_raw("}]}");
  out_send();
  return 0;
}

WM_EXPORT(complete) int32_t complete(void) {
  (void)read_input();
  out_reset();
  out_raw("{\"completion\":{\"values\":[\"alpha\",\"beta\"],\"total\":2,\"hasMore\":false}}");
  out_send();
  return 0;
}
