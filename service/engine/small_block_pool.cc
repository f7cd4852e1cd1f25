#include "service/engine/small_block_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARBITER_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARBITER_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARBITER_POISON(p, n) ((void)(p), (void)(n))
#define ARBITER_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace arbiter {

SmallBlockPool::SmallBlockPool() {
  // Address space only: pages are touched as blocks are carved, so a state that allocates
  // little costs little resident memory.
  void* p = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  base_ = static_cast<char*>(p);
  top_ = base_;
  ARBITER_POISON(base_, kArenaBytes);
}

SmallBlockPool::~SmallBlockPool() {
  if (base_ == nullptr) return;
  ARBITER_UNPOISON(base_, kArenaBytes);
  munmap(base_, kArenaBytes);
}

void* SmallBlockPool::Take(size_t k) {
  const size_t size = (k + 1) * kStep;
  if (FreeBlock* b = free_[k]; b != nullptr) {
    ARBITER_UNPOISON(b, size);
    free_[k] = b->next;
    return b;
  }
  if (base_ == nullptr || static_cast<size_t>(base_ + kArenaBytes - top_) < size) return nullptr;
  void* p = top_;
  top_ += size;
  ARBITER_UNPOISON(p, size);
  return p;
}

void SmallBlockPool::Put(void* p, size_t k) {
  auto* b = static_cast<FreeBlock*>(p);
  b->next = free_[k];
  free_[k] = b;
  ARBITER_POISON(p, (k + 1) * kStep);
}

void SmallBlockPool::Free(void* ptr, size_t osize) {
  if (ptr == nullptr) return;
  if (Owns(ptr)) {
    Put(ptr, ClassOf(osize));
  } else {
    std::free(ptr);
  }
}

void* SmallBlockPool::Resize(void* ptr, size_t osize, size_t nsize) {
  const bool small = nsize <= kMaxSmall;
  if (ptr == nullptr) {
    if (small) {
      if (void* p = Take(ClassOf(nsize)); p != nullptr) return p;
    }
    return std::malloc(nsize);
  }
  if (!Owns(ptr)) return std::realloc(ptr, nsize);  // glibc's block stays glibc's
  const size_t k = ClassOf(osize);
  if (small && ClassOf(nsize) == k) return ptr;
  void* p = small ? Take(ClassOf(nsize)) : nullptr;
  if (p == nullptr) p = std::malloc(nsize);
  if (p == nullptr) {
    // Shrinking must not fail: the block stays where it is, larger than its new size. When it
    // is freed or resized again (with the new size as its old one) it goes to a smaller class
    // than it could hold, which wastes its tail and nothing else.
    return nsize <= osize ? ptr : nullptr;
  }
  std::memcpy(p, ptr, std::min(osize, nsize));
  Put(ptr, k);
  return p;
}

}  // namespace arbiter
