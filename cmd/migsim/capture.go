package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/traces/capture"
)

// captureOptions are the options of "migsim trace capture".
type captureOptions struct {
	streams
	pid       int
	qmp       string   // a QEMU's QMP socket: capture its guest RAM
	argv      []string // the command to start, after "--"
	output    string
	outFile   *outFlag
	epoch     time.Duration
	duration  time.Duration
	delay     time.Duration
	mechanism string
	quiet     bool
	follow    bool
}

// newCaptureCmd builds "migsim trace capture". The lead registers it
// under newTraceCmd.
func newCaptureCmd(s streams) *cobra.Command {
	o := &captureOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "capture (--pid PID | --qmp SOCKET | -- command [args...]) --out out.mgt",
		Short: "Record the page writes of a running process as a trace",
		Long: `Sample, every epoch, which pages of a process's writable private anonymous
memory (heap, stacks, anonymous mmap) were written, and write them as a
migsim trace whose provenance names the mechanism, pid, command, host and
epoch. With --pid, capture a running process until --duration, Ctrl-C or
its exit; with "-- command args", start the command (its output goes to
stderr), wait --delay for it to map its memory, and capture until it exits.

The mechanism is detected (--mechanism auto): soft-dirty bits
(/proc/PID/clear_refs and pagemap) where the kernel has them, else
asynchronous userfaultfd write-protection read with PAGEMAP_SCAN (Linux
6.7+), which attaches to the target with ptrace for an instant: it needs
root, CAP_SYS_PTRACE or the target's user with ptrace_scope 0. The target
is never left stopped or write-protected: the write-protection ends with
this command's descriptor. Memory the target maps (or grows its heap into)
after the capture starts is followed from the epoch after it appears, its
pages numbered after the earlier ones (--follow=false captures only the
memory mapped at the start); the trace's page count is then known only at
the end, so the epochs are spooled to a temporary file and the trace is
written when the capture ends.

With --qmp, capture a running QEMU guest: the QMP socket's peer is the QEMU
process, query-memory-size-summary gives the guest's RAM size, and the one
private anonymous mapping of that size (QEMU's default RAM) is captured, so
trace page i is guest RAM page i. The guest runs on, under KVM or TCG, and
its QEMU is left untracked afterwards. RAM shared with share=on
(memory-backend-file or -memfd) is refused with a clear message. QEMU serves
one client per monitor: where libvirt holds the VM's monitor, give QEMU a
second one (-qmp unix:PATH,server=on,wait=off) and pass that.`,
		Example: `  migsim trace capture --pid 4242 --duration 60s --out app.mgt
  migsim trace capture --epoch 50ms --out build.mgt -- make -j2
  migsim trace capture --qmp /run/vm1.qmp --duration 5m --out vm1.mgt`,
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case dash < 0 && len(args) > 0:
				return fmt.Errorf("unexpected argument %q (a command to start goes after --)", args[0])
			case dash > 0:
				return fmt.Errorf("unexpected argument %q before --", args[0])
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.argv = args
			n := 0
			for _, given := range []bool{o.pid != 0, o.qmp != "", len(args) > 0} {
				if given {
					n++
				}
			}
			if n != 1 {
				return usageErrorf("trace capture: give exactly one of --pid PID, --qmp SOCKET or -- command")
			}
			if err := o.outFile.resolve(cmd, o.err); err != nil {
				return err
			}
			if o.output = o.outFile.path; o.output == "" {
				return usageErrorf("trace capture: --out FILE is required (- for stdout)")
			}
			if _, err := capture.ParseMechanism(o.mechanism); err != nil {
				return usageErrorf("trace capture: --mechanism: %v", err)
			}
			return captureRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.pid, "pid", 0, "process to capture")
	fl.StringVar(&o.qmp, "qmp", "", "QMP socket of a running QEMU: capture its guest's RAM")
	o.outFile = registerOut(cmd, "trace file to write (- for stdout; -o FILE is its deprecated spelling)", nil, "")
	fl.DurationVar(&o.epoch, "epoch", capture.DefaultEpoch, "sampling period, the trace's epoch length")
	fl.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until the target exits or Ctrl-C)")
	fl.DurationVar(&o.delay, "delay", 0, "with a command: wait this long after starting it before capturing")
	fl.StringVar(&o.mechanism, "mechanism", "auto", "auto, soft-dirty or uffd-wp-async")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "no per-epoch progress on stderr")
	fl.BoolVar(&o.follow, "follow", true, "also capture memory the target maps after the start (not with --qmp)")
	return cmd
}

func captureRun(ctx context.Context, o *captureOptions) error {
	mech, _ := capture.ParseMechanism(o.mechanism)
	if mech == capture.Auto {
		var err error
		if mech, err = capture.Detect(); err != nil {
			return fmt.Errorf("trace capture: %w", err)
		}
	}
	pid := o.pid
	if len(o.argv) > 0 {
		c := exec.Command(o.argv[0], o.argv[1:]...)
		// The command's output goes to stderr (stdout may be the trace).
		c.Stdout, c.Stderr = o.err, o.err
		c.WaitDelay = time.Second
		if err := c.Start(); err != nil {
			return fmt.Errorf("trace capture: %w", err)
		}
		// No Wait until the capture ends: the capture's ptrace stops would
		// be reported to a concurrent wait4 on our own child.
		defer func() {
			if err := c.Wait(); err != nil {
				fmt.Fprintf(o.err, "trace capture: %s: %v\n", o.argv[0], err)
			}
		}()
		pid = c.Process.Pid
		capture.WaitExecuted(ctx, pid, time.Second)
		select {
		case <-time.After(o.delay):
		case <-ctx.Done():
			c.Process.Signal(os.Interrupt)
			return ctx.Err()
		}
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	opts := capture.Options{PID: pid, Epoch: o.epoch, Mechanism: mech, Follow: o.follow}
	if !o.quiet {
		opts.OnEpoch = func(i, n uint64) {
			fmt.Fprintf(o.err, "epoch %d: %d pages written\n", i, n)
		}
	}
	if o.qmp != "" {
		fmt.Fprintf(o.err, "capturing the guest RAM of the QEMU at %s with %v every %v\n", o.qmp, mech, o.epoch)
	} else {
		fmt.Fprintf(o.err, "capturing process %d with %v every %v\n", pid, mech, o.epoch)
	}
	var res *capture.Result
	err := writeOutput(o.output, o.out, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 256<<10)
		var err error
		if o.qmp != "" {
			var ram *lab.GuestRAM
			res, ram, err = lab.CaptureQEMU(ctx, o.qmp, bw, opts)
			if ram != nil {
				fmt.Fprintf(o.err, "QEMU %s pid %d: %v of guest RAM at %#x\n", ram.QEMUVersion, ram.PID, ram.Size, ram.Start)
			}
		} else {
			res, err = capture.Capture(ctx, bw, opts)
		}
		if err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("trace capture: %w", err)
	}
	why := "stopped"
	if res.TargetExited {
		why = "target exited"
	}
	var names []string
	for _, r := range res.Regions {
		names = append(names, fmt.Sprintf("%#x-%#x", r.Start, r.End))
	}
	fmt.Fprintf(o.err, "wrote %s: %d epochs, %d page writes, %d regions (%s); %s\n",
		o.output, res.Epochs, res.WrittenPages, len(res.Regions), strings.Join(first(names, 4), " "), why)
	if res.AddedRegions > 0 {
		fmt.Fprintf(o.err, "followed %d regions mapped during the capture\n", res.AddedRegions)
	}
	if res.DroppedRegions > 0 {
		fmt.Fprintf(o.err, "warning: %d regions were unmapped or replaced during the capture and dropped\n", res.DroppedRegions)
	}
	return nil
}

// first returns the first n elements of s, with "..." when it had more.
func first(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], "...")
}
