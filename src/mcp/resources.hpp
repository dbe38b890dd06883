// mcp/resources.hpp: resources/list, resources/templates/list, resources/read and the
// stateful era's resources/subscribe and resources/unsubscribe (updates are sent by the
// Notifier).
//
// Ownership: owned by the Server, borrows it. Thread safety: handlers run on any thread.
#pragma once

#include "mcp/server.hpp"

namespace wasimancer::mcp {

class Resources {
 public:
  explicit Resources(Server& server);

 private:
  void list(const RequestPtr& r, bool templates);
  void read(const RequestPtr& r);
  void subscribe(const RequestPtr& r, bool subscribe);

  Server& server_;
};

}  // namespace wasimancer::mcp
