package validate

import (
	"os"
	"testing"

	"github.com/migsim/migsim/internal/labtest"
)

// TestMain gives the package's tests 30 minutes unless -timeout is given:
// they run real lab migrations and fleets (see labtest.Run).
func TestMain(m *testing.M) { os.Exit(labtest.Run(m, "30m")) }
