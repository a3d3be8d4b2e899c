package scenarios

import (
	"fmt"
	"io"
	"os"
)

// MaxFileBytes is the largest scenario or sweep file the loaders read,
// 4 MiB. A scenario is a few KB, a sweep with long axes or a scenario
// with an hour of one-second bandwidth_schedule steps a few hundred KB;
// the YAML parser needs about 40 times a file's size in memory and
// about 10 µs per key, so a larger file is refused before it is parsed
// (a 50 MB file of unknown keys took 88 s and 4 GB).
const MaxFileBytes = 4 << 20

// readFile reads a scenario or sweep file of at most MaxFileBytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		size := "more than 4 MiB"
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fmt.Sprintf("%d bytes", fi.Size())
		}
		return nil, fmt.Errorf("%s: %s, larger than the 4 MiB a scenario or sweep file may be (a scenario is a few KB)", path, size)
	}
	return data, nil
}
