/* SPDX-License-Identifier: Apache-2.0
 * Callgrind client requests for the instruction-count gate (bench/callgrind_gate.py compiles this
 * into a temporary shared library and bench/callgrind_workload.py calls it through ctypes).
 *
 * The gate runs Python under valgrind with --instr-atstart=no: start-up, imports and building the
 * input frames run uninstrumented (about 5x native instead of 50-100x), and instrumentation is on
 * only around each measured call. Each request is a few no-op instructions outside valgrind.
 * The header ships with Debian's valgrind package, which the build already installs. */
#include <valgrind/callgrind.h>

void vl_cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }

void vl_cg_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }

/* write the counts gathered since the previous dump to <out-file>.<n> and zero them */
void vl_cg_dump(const char *section) { CALLGRIND_DUMP_STATS_AT(section); }

int vl_cg_running(void) { return (int)RUNNING_ON_VALGRIND; }
