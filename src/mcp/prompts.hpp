// mcp/prompts.hpp: prompts/list, prompts/get and completion/complete (for prompt and resource
// template arguments).
//
// Ownership: owned by the Server, borrows it. Thread safety: handlers run on any thread.
#pragma once

#include "mcp/server.hpp"

namespace wasimancer::mcp {

class Prompts {
 public:
  explicit Prompts(Server& server);

 private:
  void list(const RequestPtr& r);
  void get(const RequestPtr& r);
  void complete(const RequestPtr& r);

  Server& server_;
};

}  // namespace wasimancer::mcp
