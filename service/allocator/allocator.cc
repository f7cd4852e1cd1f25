#include "service/allocator/allocator.h"

#ifdef ARBITER_TCMALLOC
#include <gperftools/tcmalloc.h>
#endif

namespace arbiter {

std::string AllocatorName() {
#ifdef ARBITER_TCMALLOC
  // Asked of the library itself, so the name is true of what was linked and loaded.
  int major = 0, minor = 0;
  const char* patch = "";
  tc_version(&major, &minor, &patch);
  return "tcmalloc " + std::to_string(major) + "." + std::to_string(minor) + patch;
#else
  return "glibc malloc";
#endif
}

}  // namespace arbiter
