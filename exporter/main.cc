#include <malloc.h>

#include <cstdlib>

#include "exporter/cli.h"

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // glibc gives each thread that allocates its own malloc arena (up to 8 per core), and each
  // keeps the high-water mark of what its thread ever built: with the sampler threads and 16
  // HTTP workers that was ~15 arenas and 20+ MB of resident memory for ~3 MB of live data.
  // poolwatch allocates on one thread at a time in practice (the sampler; /metrics allocates
  // nothing per request), so one arena costs no contention. MALLOC_ARENA_MAX still wins.
  // Both run before any thread exists.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {  // NOLINT(concurrency-mt-unsafe)
    mallopt(M_ARENA_MAX, 1);                          // NOLINT(concurrency-mt-unsafe)
  }
#endif
  return poolwatch::RunPoolwatch(argc, argv);
}
