// The tasks extension's store: a Task round-trips through JSON (what a shared store keeps),
// updates are atomic read-modify-writes, expiry and the size bound.
#include <gtest/gtest.h>

#include "mcp/task_store.hpp"

using namespace wasimancer;
using namespace wasimancer::mcp;
namespace json = boost::json;

namespace {
Task sample_task(std::string id, int64_t updated = 1000, int64_t ttl = 500) {
  Task t;
  t.id = std::move(id);
  t.status = "input_required";
  t.status_message = "waiting";
  t.tool = "confirm_delete";
  t.arguments = json::object{{"filename", "a.txt"}};
  t.client_capabilities = json::object{{"elicitation", json::object{}}};
  t.protocol_version = "2026-07-28";
  t.answers = json::object{{"first", json::object{{"action", "accept"}}}};
  t.input_requests = json::object{{"second", json::object{{"method", "elicitation/create"}, {"params", json::object{}}}}};
  t.created_ms = 900;
  t.updated_ms = updated;
  t.ttl_ms = ttl;
  t.poll_interval_ms = 500;
  return t;
}
}  // namespace

TEST(TaskStore, TasksRoundTripThroughJson) {
  Task t = sample_task("t1");
  t.result = json::object{{"content", json::array{}}};
  auto back = Task::from_json(json::parse(json::serialize(t.to_json())).as_object());
  ASSERT_TRUE(back);
  EXPECT_EQ(json::serialize(back->to_json()), json::serialize(t.to_json()));
  EXPECT_FALSE(back->terminal());
  back->status = "cancelled";
  EXPECT_TRUE(back->terminal());
  EXPECT_FALSE(Task::from_json(json::object{{"id", "x"}})) << "an incomplete record is refused, not half-read";
}

TEST(TaskStore, UpdatesAreAtomicAndUnknownIdsAreNullopt) {
  MemoryTaskStore store(10);
  ASSERT_TRUE(store.create(sample_task("t1")));
  EXPECT_FALSE(store.create(sample_task("t1"))) << "ids are unique";
  auto changed = store.update("t1", [](Task& t) {
    t.status = "working";
    return true;
  });
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->status, "working");
  auto kept = store.update("t1", [](Task& t) {
    t.status = "completed";
    return false;  // decided not to change it
  });
  EXPECT_EQ(kept->status, "working");
  EXPECT_EQ(store.get("t1")->status, "working");
  EXPECT_FALSE(store.update("nope", [](Task&) { return true; }));
  EXPECT_FALSE(store.get("nope"));
}

TEST(TaskStore, ExpiryAndSizeBound) {
  MemoryTaskStore store(2);
  ASSERT_TRUE(store.create(sample_task("old", 1000, 500)));   // kept until 1500
  ASSERT_TRUE(store.create(sample_task("new", 2000, 500)));   // kept until 2500
  EXPECT_FALSE(store.create(sample_task("third"))) << "full";
  EXPECT_EQ(store.remove_expired(1499), 0u);
  EXPECT_EQ(store.remove_expired(1600), 1u);
  EXPECT_FALSE(store.get("old"));
  EXPECT_TRUE(store.get("new"));
  EXPECT_TRUE(store.create(sample_task("third")));
}
