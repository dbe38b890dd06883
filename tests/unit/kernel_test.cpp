// Kernel memory semantics (extism-abi.md §1), including the properties Extism's kernel tests check.
#include <gtest/gtest.h>

#include <random>

#include "host/kernel.hpp"

using wasimancer::host::Kernel;

TEST(Kernel, AllocZeroIsNull) {
  Kernel k(1 << 20);
  EXPECT_EQ(k.alloc(0), 0u);
}

TEST(Kernel, BlocksHaveTheirLength) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(13);
  ASSERT_NE(a, 0u);
  EXPECT_EQ(k.length(a), 13u);
  uint64_t b = k.alloc(1);
  EXPECT_EQ(k.length(b), 1u);
  EXPECT_NE(a, b);
}

TEST(Kernel, LengthIsZeroForInteriorFreedNullAndGarbage) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(16);
  EXPECT_EQ(k.length(a + 1), 0u);
  EXPECT_EQ(k.length(0), 0u);
  EXPECT_EQ(k.length(123456789), 0u);
  k.free(a);
  EXPECT_EQ(k.length(a), 0u);
}

TEST(Kernel, FreeIsIdempotentAndIgnoresUnknownOffsets) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(8);
  k.free(a);
  k.free(a);
  k.free(0);
  k.free(999999);
  k.free(a + 3);
  uint64_t b = k.alloc(8);
  EXPECT_NE(b, 0u);
  EXPECT_EQ(k.length(b), 8u);
}

TEST(Kernel, FreedOffsetsAreNotReissuedWithinACall) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(32);
  k.free(a);
  uint64_t b = k.alloc(32);
  EXPECT_NE(a, b);
}

TEST(Kernel, FreedBlocksAreReusedOnlyWhenFull) {
  Kernel k(64 * 1024);
  std::vector<uint64_t> blocks;
  for (;;) {
    uint64_t o = k.alloc(1000);
    if (!o) break;
    blocks.push_back(o);
  }
  ASSERT_GT(blocks.size(), 50u);
  EXPECT_EQ(k.alloc(1000), 0u);
  k.free(blocks[10]);
  EXPECT_EQ(k.alloc(1000), blocks[10]);  // the kernel reuses a freed block once memory is exhausted
  EXPECT_EQ(k.alloc(1000), 0u);
}

TEST(Kernel, OffsetPlusIAddressesByteI) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(20);
  for (uint64_t i = 0; i < 20; ++i) k.store_u8(a + i, static_cast<uint8_t>(i * 3));
  for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(k.load_u8(a + i), i * 3);
  auto b = k.block(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 20u);
  EXPECT_EQ(static_cast<uint8_t>((*b)[5]), 15);
}

TEST(Kernel, UnalignedLittleEndianU64) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(17);
  k.store_u64(a + 3, 0x0102030405060708ull);
  EXPECT_EQ(k.load_u8(a + 3), 0x08);
  EXPECT_EQ(k.load_u8(a + 10), 0x01);
  EXPECT_EQ(k.load_u64(a + 3), 0x0102030405060708ull);
}

TEST(Kernel, OutOfRangeLoadsReadZeroAndStoresAreIgnored) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc(8);
  k.store_u64(a, ~0ull);
  EXPECT_EQ(k.load_u8(1ull << 40), 0u);
  EXPECT_EQ(k.load_u64(1ull << 40), 0u);
  EXPECT_EQ(k.load_u64(~0ull - 2), 0u);  // wraps around: still out of range
  k.store_u8(1ull << 40, 1);
  k.store_u64(~0ull - 3, 1);
  EXPECT_EQ(k.load_u64(a + 4), 0u);  // straddles the end of the used arena
  EXPECT_EQ(k.load_u64(a), ~0ull);
}

TEST(Kernel, InputIsAnOrdinaryBlock) {
  Kernel k(1 << 20);
  uint64_t in = k.alloc_bytes("hello world");
  k.input_set(in, 11);
  EXPECT_EQ(k.input_offset(), in);
  EXPECT_EQ(k.length(k.input_offset()), k.input_length());
  EXPECT_EQ(k.input_load_u8(0), 'h');
  EXPECT_EQ(k.input_load_u8(11), 0u);
  EXPECT_EQ(k.input_load_u64(3), k.load_u64(in + 3));
  EXPECT_EQ(k.input_load_u64(4), 0u);  // 4 + 8 > 11
  k.free(in);
  EXPECT_EQ(k.input_length(), 0u);
}

TEST(Kernel, ResetInvalidatesEverything) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc_bytes("abc");
  k.input_set(a, 3);
  k.output_set(a, 3);
  k.error_set(a);
  k.reset();
  EXPECT_EQ(k.length(a), 0u);
  EXPECT_EQ(k.input_length(), 0u);
  EXPECT_EQ(k.output_length(), 0u);
  EXPECT_EQ(k.error_get(), 0u);
  EXPECT_EQ(k.input_load_u8(0), 0u);
}

TEST(Kernel, OutputLastCallWins) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc_bytes("first");
  uint64_t b = k.alloc_bytes("second");
  k.output_set(a, 5);
  k.output_set(b, 6);
  auto r = k.range(k.output_offset(), k.output_length());
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "second");
}

TEST(Kernel, ArenaIsCappedAndHugeAllocationsFail) {
  Kernel k(1 << 20);
  EXPECT_EQ(k.alloc(1ull << 40), 0u);
  EXPECT_EQ(k.alloc(2 << 20), 0u);
  EXPECT_NE(k.alloc(512 * 1024), 0u);
  EXPECT_LE(k.memory_bytes(), 1u << 20);
}

TEST(Kernel, RangeRejectsBytesOutsideTheArena) {
  Kernel k(1 << 20);
  uint64_t a = k.alloc_bytes("abcd");
  EXPECT_TRUE(k.range(a, 4));
  EXPECT_FALSE(k.range(a, 1ull << 40));
  EXPECT_FALSE(k.range(1ull << 50, 1));
  EXPECT_TRUE(k.range(0, 0));  // an empty output is always fine
}

// Property test, in the spirit of Extism's quickcheck kernel tests: random allocation, free,
// store and load sequences keep every live block's contents and lengths intact.
TEST(Kernel, RandomOperationsKeepLiveBlocksIntact) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    Kernel k(4 << 20);
    struct Live { uint64_t off; std::string data; };
    std::vector<Live> live;
    for (int step = 0; step < 2000; ++step) {
      int op = static_cast<int>(rng() % 4);
      if (op <= 1 || live.empty()) {
        size_t n = rng() % 300;
        std::string data(n, '\0');
        for (auto& c : data) c = static_cast<char>(rng());
        uint64_t off = k.alloc(n);
        if (n == 0) {
          EXPECT_EQ(off, 0u);
          continue;
        }
        ASSERT_NE(off, 0u);
        for (size_t i = 0; i < n; ++i) k.store_u8(off + i, static_cast<uint8_t>(data[i]));
        for (auto& l : live) ASSERT_NE(l.off, off);
        live.push_back({off, data});
      } else if (op == 2) {
        size_t i = rng() % live.size();
        k.free(live[i].off);
        EXPECT_EQ(k.length(live[i].off), 0u);
        live.erase(live.begin() + static_cast<long>(i));
      } else {
        const Live& l = live[rng() % live.size()];
        ASSERT_EQ(k.length(l.off), l.data.size());
        auto b = k.block(l.off);
        ASSERT_TRUE(b);
        ASSERT_EQ(*b, l.data);
      }
    }
    k.reset();
    for (auto& l : live) EXPECT_EQ(k.length(l.off), 0u);
  }
}
