// Which heap allocator this binary runs on, for `arbiterd --version` and the benchmarks' output:
// figures measured on one allocator do not carry over to the other.
#ifndef ARBITER_SERVICE_ALLOCATOR_ALLOCATOR_H_
#define ARBITER_SERVICE_ALLOCATOR_ALLOCATOR_H_

#include <string>

namespace arbiter {

// "tcmalloc 2.10" when linked with gperftools' tcmalloc (ARBITER_TCMALLOC, the default for
// arbiterd), else "glibc malloc" (sanitizer and fuzz builds: ASan brings its own).
std::string AllocatorName();

}  // namespace arbiter

#endif  // ARBITER_SERVICE_ALLOCATOR_ALLOCATOR_H_
