package lab

import (
	"os"
	"testing"

	"github.com/migsim/migsim/internal/labtest"
)

// TestMain gives the package's tests 30 minutes unless -timeout is given:
// they run real migrations, local and remote (see labtest.Run).
func TestMain(m *testing.M) { os.Exit(labtest.Run(m, "30m")) }
