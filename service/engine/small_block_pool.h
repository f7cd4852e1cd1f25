// A per-Lua-state allocator for small blocks: what a decision allocates most (short strings,
// tables, closures, views, node arrays), which glibc's malloc/free cost ~4.7k instructions per
// access decision to serve (BM_Access, callgrind).
//
// Blocks of up to kMaxSmall bytes come from size classes of kStep bytes with a free list each,
// carved on demand from one arena the pool owns. Lua passes the old size of every block it
// frees or resizes, so no block carries a header; a block is the pool's when its address lies
// in the arena, glibc's otherwise. The arena is reserved address space (mmap, pages touched as
// carved), kArenaBytes per state: that bounds what the pool retains; beyond it small blocks
// fall back to glibc like large ones. Everything goes with the pool (after lua_close).
//
// The pool knows nothing of the state's memory limit: the allocator (lua_sandbox.cc) charges
// the sizes Lua asked for, as it did with glibc, so every limit and message stays the same.
//
// Under AddressSanitizer, free and not yet carved blocks are poisoned, so a use after free of
// a Lua object is still reported.
#ifndef ARBITER_SERVICE_ENGINE_SMALL_BLOCK_POOL_H_
#define ARBITER_SERVICE_ENGINE_SMALL_BLOCK_POOL_H_

#include <cstddef>
#include <cstdint>

namespace arbiter {

class SmallBlockPool {
 public:
  static constexpr size_t kStep = 16;  // glibc's alignment, which Lua's objects need
  static constexpr size_t kMaxSmall = 512;
  static constexpr size_t kArenaBytes = size_t{1} << 20;

  SmallBlockPool();
  ~SmallBlockPool();
  SmallBlockPool(const SmallBlockPool&) = delete;
  SmallBlockPool& operator=(const SmallBlockPool&) = delete;

  // lua_Alloc's contract without the accounting: `ptr` null allocates `nsize` bytes, otherwise
  // resizes the block of `osize` bytes at `ptr` (nsize > 0). Null when out of memory (only
  // when growing: shrinking a block always succeeds).
  void* Resize(void* ptr, size_t osize, size_t nsize);
  // Frees the block of `osize` bytes at `ptr` (null: nothing).
  void Free(void* ptr, size_t osize);

  // For tests: whether `p` is a pool block.
  bool Owns(const void* p) const {
    auto a = reinterpret_cast<uintptr_t>(p);
    return a - reinterpret_cast<uintptr_t>(base_) < kArenaBytes && base_ != nullptr;
  }

 private:
  static constexpr size_t kClasses = kMaxSmall / kStep;
  static size_t ClassOf(size_t n) { return (n - 1) / kStep; }  // n in [1, kMaxSmall]

  // A block of class `k`, from its free list or freshly carved; null when the arena is full.
  void* Take(size_t k);
  void Put(void* p, size_t k);

  struct FreeBlock {
    FreeBlock* next;
  };
  char* base_ = nullptr;  // the arena; null when it could not be reserved (all to glibc)
  char* top_ = nullptr;   // the next byte not carved yet
  FreeBlock* free_[kClasses] = {};
};

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ENGINE_SMALL_BLOCK_POOL_H_
