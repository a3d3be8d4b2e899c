package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// stealUffd makes process pid create a userfaultfd, copies it into this
// process with pidfd_getfd(2) and makes pid close its copy, so that the
// returned descriptor is the only one: closing it (or this process dying)
// ends the tracking.
//
// The target's main thread is stopped with PTRACE_SEIZE+PTRACE_INTERRUPT
// for the two injected system calls, run by pointing its instruction
// pointer at an existing syscall instruction (no code is written); its
// registers are then restored and it is detached, on every path. Signals
// that arrive meanwhile are delivered again at detach.
func stealUffd(pid int) (fd int, err error) {
	runtime.LockOSThread() // ptrace requests must come from the tracer thread
	defer runtime.UnlockOSThread()

	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("capture: pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)

	if err := unix.PtraceSeize(pid); err != nil {
		return -1, permission(fmt.Errorf("capture: ptrace(PTRACE_SEIZE, %d): %w", pid, err))
	}
	t := &tracee{pid: pid}
	defer func() {
		if derr := t.detach(); derr != nil && err == nil {
			err = derr
		}
	}()
	if err := unix.PtraceInterrupt(pid); err != nil {
		return -1, fmt.Errorf("capture: ptrace(PTRACE_INTERRUPT, %d): %w", pid, err)
	}
	if err := t.waitTrap(true); err != nil {
		return -1, err
	}
	// Only now, with the tracee stopped on its way back to user mode, are
	// its mappings final: a process started a moment ago may still be
	// inside execve(2), its new executable and vDSO not yet mapped, and
	// /proc/PID/maps read then holds no executable mapping at all.
	insn, err := findSyscallInsn(pid)
	if err != nil {
		return -1, err
	}
	if err := unix.PtraceGetRegs(pid, &t.saved); err != nil {
		return -1, fmt.Errorf("capture: ptrace(PTRACE_GETREGS, %d): %w", pid, err)
	}
	t.haveSaved = true

	var remote int64
	for _, flags := range []uint64{unix.O_CLOEXEC | unix.O_NONBLOCK, unix.O_CLOEXEC | unix.O_NONBLOCK | uffdUserModeOnly} {
		remote, err = t.syscall(insn, unix.SYS_USERFAULTFD, flags)
		if err != nil {
			return -1, err
		}
		if remote != -int64(unix.EPERM) {
			break
		}
	}
	if remote < 0 {
		return -1, fmt.Errorf("capture: userfaultfd(2) in process %d: %w", pid, unix.Errno(-remote))
	}
	fd, err = unix.PidfdGetfd(pidfd, int(remote), 0)
	if err != nil {
		err = permission(fmt.Errorf("capture: pidfd_getfd(%d, fd %d): %w", pid, remote, err))
	}
	if r, cerr := t.syscall(insn, unix.SYS_CLOSE, uint64(remote)); cerr != nil || r != 0 {
		if fd >= 0 && err == nil {
			unix.Close(fd)
		}
		if cerr == nil {
			cerr = unix.Errno(-r)
		}
		return -1, fmt.Errorf("capture: close(%d) in process %d: %w", remote, pid, cerr)
	}
	if err != nil {
		return -1, err
	}
	return fd, nil
}

// tracee is a seized thread.
type tracee struct {
	pid       int
	saved     unix.PtraceRegs
	haveSaved bool
	pending   []unix.Signal // signals suppressed while stopped
}

// waitTrap waits for the tracee's next SIGTRAP stop (the PTRACE_EVENT_STOP
// of PTRACE_INTERRUPT when interrupt is true, else the single-step trap).
// A signal-delivery stop in between is remembered and the tracee resumed
// without it (with a single step when interrupt is false).
func (t *tracee) waitTrap(interrupt bool) error {
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(t.pid, &ws, unix.WALL, nil); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("capture: wait4 %d: %w", t.pid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return fmt.Errorf("capture: process %d exited while attached", t.pid)
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		if sig == unix.SIGTRAP {
			isEvent := ws.TrapCause() == unix.PTRACE_EVENT_STOP
			if isEvent == interrupt {
				return nil
			}
			if isEvent { // a late interrupt stop during a step: go on stepping
				if err := unix.PtraceSingleStep(t.pid); err != nil {
					return fmt.Errorf("capture: ptrace(PTRACE_SINGLESTEP, %d): %w", t.pid, err)
				}
				continue
			}
		}
		if ws.TrapCause() == unix.PTRACE_EVENT_STOP {
			// Group-stop seen through PTRACE_SEIZE (SIGSTOP and friends):
			// treat it as our stop.
			if interrupt {
				return nil
			}
		} else {
			t.pending = append(t.pending, sig)
		}
		var err error
		if interrupt {
			err = unix.PtraceCont(t.pid, 0)
		} else {
			err = unix.PtraceSingleStep(t.pid)
		}
		if err != nil {
			return fmt.Errorf("capture: resuming %d: %w", t.pid, err)
		}
	}
}

// syscall runs system call nr with args in the tracee at the syscall
// instruction insn and returns its raw result (negative errno on failure).
func (t *tracee) syscall(insn uint64, nr uint64, args ...uint64) (int64, error) {
	r := t.saved
	r.Rip = insn
	r.Rax = nr
	r.Orig_rax = ^uint64(0) // not in a system call: no restart fix-up
	regs := []*uint64{&r.Rdi, &r.Rsi, &r.Rdx, &r.R10, &r.R8, &r.R9}
	for i, a := range args {
		*regs[i] = a
	}
	if err := unix.PtraceSetRegs(t.pid, &r); err != nil {
		return 0, fmt.Errorf("capture: ptrace(PTRACE_SETREGS, %d): %w", t.pid, err)
	}
	if err := unix.PtraceSingleStep(t.pid); err != nil {
		return 0, fmt.Errorf("capture: ptrace(PTRACE_SINGLESTEP, %d): %w", t.pid, err)
	}
	if err := t.waitTrap(false); err != nil {
		return 0, err
	}
	if err := unix.PtraceGetRegs(t.pid, &r); err != nil {
		return 0, fmt.Errorf("capture: ptrace(PTRACE_GETREGS, %d): %w", t.pid, err)
	}
	if r.Rip != insn+2 {
		return 0, fmt.Errorf("capture: injected system call in process %d stopped at %#x, want %#x", t.pid, r.Rip, insn+2)
	}
	return int64(r.Rax), nil
}

// detach restores the tracee's registers, detaches, and delivers again
// the signals that arrived while it was stopped.
func (t *tracee) detach() error {
	var err error
	if t.haveSaved {
		if e := unix.PtraceSetRegs(t.pid, &t.saved); e != nil {
			err = fmt.Errorf("capture: restoring the registers of %d: %w", t.pid, e)
		}
	}
	var sig uintptr
	rest := t.pending
	if len(rest) > 0 {
		sig, rest = uintptr(rest[0]), rest[1:]
	}
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(t.pid), 0, sig, 0, 0); e != 0 && err == nil {
		err = fmt.Errorf("capture: ptrace(PTRACE_DETACH, %d): %w", t.pid, e)
	}
	for _, s := range rest {
		_ = unix.Tgkill(t.pid, t.pid, s)
	}
	return err
}

// findSyscallInsn returns the address of a syscall instruction (0f 05) in
// pid's vDSO, or else in one of its executable mappings.
func findSyscallInsn(pid int) (uint64, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, permission(fmt.Errorf("capture: %w", err))
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0, permission(fmt.Errorf("capture: %w", err))
	}
	defer mem.Close()
	type span struct{ lo, hi uint64 }
	var vdso, exec []span
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.Contains(f[1], "x") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if len(f) >= 6 && f[5] == "[vsyscall]" {
			continue // not readable through /proc/PID/mem
		}
		if len(f) >= 6 && f[5] == "[vdso]" {
			vdso = append(vdso, span{a, b})
		} else {
			exec = append(exec, span{a, b})
		}
	}
	for _, s := range append(vdso, exec...) {
		n := min(s.hi-s.lo, 4<<20)
		buf := make([]byte, n)
		k, _ := mem.ReadAt(buf, int64(s.lo))
		if i := bytes.Index(buf[:k], []byte{0x0f, 0x05}); i >= 0 {
			return s.lo + uint64(i), nil
		}
	}
	return 0, fmt.Errorf("capture: no syscall instruction found in the executable mappings of process %d", pid)
}
