// Command migsim simulates live VM migration: it replays dirty-page traces
// against migration models. Run "migsim help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Batch systems and CI time-outs stop jobs with SIGTERM: every command
	// stops as cleanly as on Ctrl-C (the lab removes its QEMUs, network
	// namespaces and work directories).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(int(code))
}
