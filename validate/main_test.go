package validate

import (
	"flag"
	"os"
	"testing"
)

// labTimeout is this package's test time limit when -timeout is not
// given: its lab tests migrate real QEMU guests (a minute or two each
// under TCG on 2 cores, more on a busy machine), and the go tool's
// default of 10 minutes for a whole package binary is too short for them
// together; `go test ./...` is the README's test command and takes no
// flags.
const labTimeout = "30m"

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.timeout" {
			given = true
		}
	})
	if !given {
		_ = flag.Set("test.timeout", labTimeout)
	}
	os.Exit(m.Run())
}
