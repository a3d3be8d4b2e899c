// Command migsim-guest replays a migsim dirty-page trace inside a guest
// whose live migration the validation lab measures (package validate).
//
// It runs as /init of an initramfs built by validate.BuildImage: it mounts
// /proc, reads its settings from the kernel command line, maps an anonymous
// region the size of the trace's memory, touches every page outside the
// trace's zero class (zero pages stay untouched and all zero), then waits
// for the host's "start" on its control port and replays the trace epoch by
// epoch at the trace's pace: one store to every page written in an epoch,
// one load from every page read. After each epoch it reports what it
// achieved, so that the host can feed the simulator the rate really
// replayed. On "verify" it checks every page of the region against the
// record of its own writes and prints a checksum: after a migration, a page
// that lost a write shows up as bad.
//
// Kernel command-line settings (all optional):
//
//	migsim.trace=/trace.mgt    the trace file
//	migsim.port=/dev/ttyS1     the control port (a serial line, set raw)
//	migsim.at_end=loop         loop or idle when the trace ends
//	migsim.free=1              free-page mode: free-class pages stay
//	                           untouched and pages the trace frees are
//	                           handed back (madvise MADV_DONTNEED), so the
//	                           guest kernel holds them as free (the lab's
//	                           virtio-balloon free-page-hint runs); the
//	                           ready line then adds mem_free_kb, the
//	                           kernel's MemFree after the touch, and
//	                           hint_pages, the pages in free blocks of the
//	                           buddy allocator's highest order (the blocks
//	                           the balloon driver hints, from
//	                           /proc/buddyinfo)
//
// Run by hand (not as PID 1) it takes the same settings as flags, -trace,
// -port and -at_end, with stdin and stdout as the control port when -port
// is empty. With -hash-ram FILE it only prints an 8-byte hash of every
// 4 KiB page of FILE (see hash.go): the lab runs that on remote hosts. The line protocol is documented on session in replay.go.
//
// Build it static: CGO_ENABLED=0 go build ./cmd/migsim-guest.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/traces"
)

// settings are the replayer's settings.
type settings struct {
	trace string
	port  string
	atEnd string
	free  bool // free-page mode (migsim.free=1, -free)
}

func defaultSettings() settings {
	return settings{trace: "/trace.mgt", port: "/dev/ttyS1", atEnd: "loop"}
}

func main() {
	pid1 := os.Getpid() == 1
	var s settings
	if pid1 {
		s = defaultSettings()
		if err := setupInit(); err != nil {
			fatal(os.Stdout, pid1, err)
		}
		cmdline, err := os.ReadFile("/proc/cmdline")
		if err != nil {
			fatal(os.Stdout, pid1, err)
		}
		s = parseCmdline(string(cmdline), s)
	} else {
		flag.StringVar(&s.trace, "trace", "trace.mgt", "trace file")
		flag.StringVar(&s.port, "port", "", "control port (a tty); stdin and stdout when empty")
		flag.StringVar(&s.atEnd, "at_end", "loop", "loop or idle when the trace ends")
		flag.BoolVar(&s.free, "free", false, "free-page mode: leave free-class pages untouched and hand freed pages back to the kernel")
		hashPath := flag.String("hash-ram", "", "print an 8-byte hash of every 4 KiB page of this RAM file to stdout and exit (the lab's remote memory check)")
		flag.Parse()
		if *hashPath != "" {
			if err := hashRAM(*hashPath, os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "migsim-guest: %v\n", err)
				os.Exit(1)
			}
			return
		}
	}

	var in io.Reader = os.Stdin
	var out io.Writer = os.Stdout
	if s.port != "" {
		f, err := os.OpenFile(s.port, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			fatal(os.Stdout, pid1, err)
		}
		if err := makeRaw(int(f.Fd())); err != nil {
			fatal(f, pid1, fmt.Errorf("setting %s raw: %w", s.port, err))
		}
		in, out = f, f
	}
	if err := run(s, in, out); err != nil {
		fatal(out, pid1, err)
	}
	if pid1 {
		unix.Sync()
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
}

// run sets up the region and plays the session until poweroff.
func run(s settings, in io.Reader, out io.Writer) error {
	if s.atEnd != "loop" && s.atEnd != "idle" {
		return fmt.Errorf("at_end %q: want loop or idle", s.atEnd)
	}
	open := func() (traces.Source, error) {
		r, err := traces.Open(s.trace)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	src, err := open()
	if err != nil {
		return err
	}
	hdr := *src.Header()
	_ = traces.Close(src)

	size := hdr.MemoryBytes()
	region, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return fmt.Errorf("mapping %d bytes for the trace's memory: %w", size, err)
	}
	var release func([]byte) error
	if s.free {
		release = func(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }
	}
	r, err := newReplayer(region, &hdr, release)
	if err != nil {
		return err
	}
	t0 := time.Now()
	touched := r.touch(&hdr)
	touchNs := time.Since(t0).Nanoseconds()
	if s.free {
		fmt.Fprintf(out, "MIGSIM ready pages=%d page_size=%d epoch_ns=%d touched=%d touch_ns=%d mem_free_kb=%d hint_pages=%d\n",
			hdr.PageCount, hdr.PageSize, hdr.Epoch.Nanoseconds(), touched, touchNs, memFreeKB(), topOrderFreePages())
	} else {
		fmt.Fprintf(out, "MIGSIM ready pages=%d page_size=%d epoch_ns=%d touched=%d touch_ns=%d\n",
			hdr.PageCount, hdr.PageSize, hdr.Epoch.Nanoseconds(), touched, touchNs)
	}

	cmds := make(chan command, 16)
	go readCommands(in, cmds)
	sess := &session{open: open, loop: s.atEnd == "loop", out: out, cmds: cmds, r: r, hdr: &hdr, sleep: time.Sleep}
	err = sess.run()
	if err == errPoweroff {
		fmt.Fprintln(out, "MIGSIM poweroff")
		return nil
	}
	return err
}

// readCommands sends each line read from in as a command, and closes cmds
// when in ends.
func readCommands(in io.Reader, cmds chan<- command) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if c := strings.TrimSpace(sc.Text()); c != "" {
			cmds <- command(c)
		}
	}
	close(cmds)
}

// parseCmdline applies migsim.* settings from a kernel command line.
func parseCmdline(cmdline string, s settings) settings {
	for _, f := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "migsim.trace":
			s.trace = v
		case "migsim.port":
			s.port = v
		case "migsim.at_end":
			s.atEnd = v
		case "migsim.free":
			s.free = v == "1"
		}
	}
	return s
}

// memFreeKB returns the kernel's MemFree from /proc/meminfo, KiB; -1 when
// it cannot be read.
func memFreeKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemFree:" {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// topOrderFreePages returns the pages in free blocks of the highest order
// /proc/buddyinfo lists (its last column, MAX_ORDER-1: the order of the
// blocks virtio-balloon's free-page hinting takes), summed over zones; -1
// when it cannot be read.
func topOrderFreePages() int64 {
	b, err := os.ReadFile("/proc/buddyinfo")
	if err != nil {
		return -1
	}
	return parseBuddyinfo(string(b))
}

// parseBuddyinfo is topOrderFreePages on the text of /proc/buddyinfo.
func parseBuddyinfo(text string) int64 {
	var n int64
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		// Node N, zone NAME c0 c1 ... c(K-1)
		if len(f) < 5 || f[2] != "zone" {
			continue
		}
		counts := f[4:]
		c, err := strconv.ParseInt(counts[len(counts)-1], 10, 64)
		if err != nil {
			return -1
		}
		n += c << (len(counts) - 1)
	}
	return n
}

// setupInit does what an init must before anything else: mount /proc.
// The initramfs provides /dev/console, /dev/null and the serial nodes.
func setupInit() error {
	if err := os.MkdirAll("/proc", 0o555); err != nil {
		return err
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	loadModules(modulesDir, os.Stdout) // the console
	return nil
}

// makeRaw puts the terminal fd in raw mode: no echo, no line editing, no
// CR/LF translation, 8-bit characters.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// fatal reports err on the control port and ends: as PID 1 it powers the
// guest off (so QEMU exits and the host sees the error line), otherwise it
// exits with status 1.
func fatal(out io.Writer, pid1 bool, err error) {
	fmt.Fprintf(out, "MIGSIM error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	fmt.Fprintf(os.Stderr, "migsim-guest: %v\n", err)
	if pid1 {
		unix.Sync()
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		select {}
	}
	os.Exit(1)
}
