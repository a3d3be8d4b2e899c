//go:build linux && !amd64

package capture

import "fmt"

// stealUffd needs system-call injection, written for amd64 only.
func stealUffd(pid int) (int, error) {
	return -1, fmt.Errorf("capture: %w: uffd-wp-async capture of another process is implemented for amd64 only", ErrUnsupported)
}
