//go:build !unix

package traces

import "time"

// processCPUTime returns 0: the CPU time is not measured on this system,
// and benchmarks leave out their CPU-based metrics.
func processCPUTime() time.Duration { return 0 }
