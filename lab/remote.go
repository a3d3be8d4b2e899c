package lab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// Remote runs.
//
// [RunRemote] runs the same migration as [RunLocal], with the source and
// destination QEMU on the hosts of a hosts file, reached over SSH
// (golang.org/x/crypto/ssh). Per host the lab opens one SSH connection,
// checks QEMU, the work dir (tmpfs) and /dev/kvm there, makes a run folder
// under the work dir and uploads the boot kit and the replayer binary
// (taken from the initramfs) into it. QEMU runs as a remote command whose
// QMP and guest-control unix sockets the lab reaches through SSH
// direct-streamlocal channels; from there on the run is [RunLocal]'s. The
// migration stream goes from host to host, to the destination's
// migration_address, not through this machine.
//
// Memory verification reads no RAM image back: the replayer's -hash-ram
// mode prints an 8-byte hash per 4 KiB page of a side's RAM file (the
// first 8 bytes of its SHA-256, little-endian), run on each host; the lab
// compares the hashes page by page.
//
// Cleanup: each remote QEMU runs under a small shell wrapper that kills it
// as soon as its SSH session's stdin closes, so a QEMU does not outlive its
// session even when the lab itself is killed; at the end the lab quits each
// QEMU over QMP, closes the sessions, kills whatever the run's pid files
// still name and removes the run folder, then closes the connections.

// Remote step bounds: connecting, one remote command, an upload.
const (
	sshConnectTimeout = 20 * time.Second
	remoteCmdTimeout  = 30 * time.Second
	remoteUploadTime  = 5 * time.Minute
	remoteCleanupTime = 15 * time.Second
)

// RunRemote is [RunLocal] with the source and destination QEMU on the
// hosts of a hosts file (see the comment above and validate/README.md):
// each host's work_dir holds the run's files, and the path is the hosts'
// own (the lab does not shape it). Free-page hinting and balloon runs are
// refused. Every remote process, socket and file is gone when it returns,
// and its SSH connections are closed.
func RunRemote(ctx context.Context, opts Options, hosts *Hosts) (*RealRun, error) {
	if hosts == nil {
		return nil, errors.New("remote run: no hosts")
	}
	mem, atEnd, err := opts.guestMemory()
	if err != nil {
		return nil, err
	}
	if opts.Migration.FreePageHint || opts.Migration.Balloon {
		return nil, errors.New("remote hosts: free-page hinting and balloon runs are local only so far")
	}
	h, err := openRemote(ctx, hosts, opts.Image, opts.logf())
	if err != nil {
		return nil, err
	}
	return execute(ctx, h, opts, mem, atEnd, nil)
}

// remoteLab is a remote run's hosts.
type remoteLab struct {
	hosts    map[string]*remoteHost // by side
	kvmAccel string                 // kvm when both hosts can, else tcg
	logf     func(string, ...any)
}

// remoteHost is one side's host during a run.
type remoteHost struct {
	side                     string
	spec                     HostSpec
	client                   *ssh.Client
	dir                      string // the run's folder on the host; "" until made
	kernel, initramfs, guest string
	kvm                      bool
}

func (h *remoteHost) label() string {
	return fmt.Sprintf("%s host %s@%s", h.side, h.spec.User, h.spec.SSH)
}

// openRemote connects to both hosts, checks them and uploads the boot kit.
// On error it removes what it made on the hosts and closes its connections.
func openRemote(ctx context.Context, hosts *Hosts, img *Image, logf func(string, ...any)) (_ *remoteLab, err error) {
	guest, err := guestFromInitramfs(img.Initramfs)
	if err != nil {
		return nil, err
	}
	r := &remoteLab{hosts: map[string]*remoteHost{}, logf: logf}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	for _, side := range []string{"source", "destination"} {
		spec := hosts.Source
		if side == "destination" {
			spec = hosts.Destination
		}
		h := &remoteHost{side: side, spec: spec}
		if h.client, err = dialHost(ctx, h, hosts.InsecureIgnoreHostKey); err != nil {
			return nil, err
		}
		r.hosts[side] = h
		if err := h.prepare(ctx, img, guest); err != nil {
			return nil, err
		}
		logf("%s ready: run folder %s, QEMU %s, %s", h.label(), h.dir, spec.QEMU, map[bool]string{true: "kvm", false: "no usable /dev/kvm"}[h.kvm])
	}
	r.kvmAccel = "tcg"
	if r.hosts["source"].kvm && r.hosts["destination"].kvm {
		r.kvmAccel = "kvm"
	}
	return r, nil
}

// dialHost opens h's SSH connection, checking its host key against its
// known_hosts file unless insecure.
func dialHost(ctx context.Context, h *remoteHost, insecure bool) (*ssh.Client, error) {
	s := h.spec
	keyBytes, err := os.ReadFile(s.IdentityFile)
	if err != nil {
		return nil, fmt.Errorf("%s: identity_file: %w", h.label(), err)
	}
	signer, err := ssh.ParsePrivateKey(keyBytes)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("%s: identity_file %s is passphrase-protected; the lab needs an unencrypted key (make a dedicated one with ssh-keygen -N '')", h.label(), s.IdentityFile)
		}
		return nil, fmt.Errorf("%s: identity_file %s: %w", h.label(), s.IdentityFile, err)
	}
	var hostKey ssh.HostKeyCallback
	if insecure {
		hostKey = ssh.InsecureIgnoreHostKey() //nolint:gosec // the hosts file's explicit opt-out
	} else if hostKey, err = knownhosts.New(s.KnownHosts); err != nil {
		return nil, fmt.Errorf("%s: known_hosts %s: %w (host-key checking is on: add the host's key, e.g. ssh-keyscan -p PORT HOST >> %s)", h.label(), s.KnownHosts, err, s.KnownHosts)
	}
	cfg := &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKey,
		Timeout:         sshConnectTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, sshConnectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", s.SSH)
	if err != nil {
		return nil, fmt.Errorf("%s: unreachable: %w", h.label(), err)
	}
	_ = conn.SetDeadline(time.Now().Add(sshConnectTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, s.SSH, cfg)
	if err != nil {
		conn.Close()
		var ke *knownhosts.KeyError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return nil, fmt.Errorf("%s: unknown host key: %s has no key for it (host-key checking is on: check the key, then add it, e.g. ssh-keyscan -p PORT HOST >> %s)", h.label(), s.KnownHosts, s.KnownHosts)
		case errors.As(err, &ke):
			return nil, fmt.Errorf("%s: HOST KEY MISMATCH: the host's key differs from the one in %s (line %d): someone may be intercepting the connection, or the host was reinstalled", h.label(), s.KnownHosts, ke.Want[0].Line)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%s: authentication failed with identity_file %s: is its public key in %s's authorized_keys? (%v)", h.label(), s.IdentityFile, s.User, err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s: connecting: %w", h.label(), ctx.Err())
		}
		return nil, fmt.Errorf("%s: SSH handshake: %w", h.label(), err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// prepare checks the host and uploads the boot kit into a new run folder.
func (h *remoteHost) prepare(ctx context.Context, img *Image, guest []byte) error {
	s := h.spec
	out, err := h.output(ctx, "command -v "+shellQuote(s.QEMU), nil)
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return fmt.Errorf("%s: QEMU not found: %q is not an executable there (install Debian's qemu-system-x86 on the host, or set qemu: in %s)", h.label(), s.QEMU, "the hosts file")
	}
	out, err = h.output(ctx, "stat -f -c %T "+shellQuote(s.WorkDir), nil)
	if err != nil {
		return fmt.Errorf("%s: work_dir %s: %w", h.label(), s.WorkDir, err)
	}
	if fs := strings.TrimSpace(string(out)); fs != "tmpfs" && fs != "hugetlbfs" {
		return fmt.Errorf("%s: work_dir %s is on %s, not tmpfs: guest RAM must stay in memory (and post-copy's userfaultfd registers only tmpfs or hugetlbfs files); use /dev/shm", h.label(), s.WorkDir, fs)
	}
	out, err = h.output(ctx, "mktemp -d "+shellQuote(path.Join(s.WorkDir, "migsim-lab-XXXXXXXX")), nil)
	if err != nil {
		return fmt.Errorf("%s: making the run folder: %w", h.label(), err)
	}
	h.dir = strings.TrimSpace(string(out))
	if !strings.HasPrefix(h.dir, s.WorkDir) {
		dir := h.dir
		h.dir = ""
		return fmt.Errorf("%s: mktemp gave %q, not a folder under %s", h.label(), dir, s.WorkDir)
	}
	_, err = h.output(ctx, "test -r /dev/kvm && test -w /dev/kvm", nil)
	h.kvm = err == nil
	for _, f := range []struct {
		dst  *string
		name string
		src  string
		data []byte
	}{{&h.kernel, "vmlinuz", img.Kernel, nil}, {&h.initramfs, "initramfs.cpio.gz", img.Initramfs, nil}, {&h.guest, "migsim-guest", "", guest}} {
		var in io.Reader
		if f.data != nil {
			in = bytes.NewReader(f.data)
		} else {
			file, err := os.Open(f.src)
			if err != nil {
				return err
			}
			defer file.Close()
			in = file
		}
		*f.dst = path.Join(h.dir, f.name)
		uctx, cancel := context.WithTimeout(ctx, remoteUploadTime)
		_, err := h.run(uctx, "cat > "+shellQuote(*f.dst)+" && chmod 0755 "+shellQuote(*f.dst), in)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: uploading %s: %w", h.label(), f.name, err)
		}
	}
	return nil
}

// output runs cmd on the host within [remoteCmdTimeout] and returns its
// stdout.
func (h *remoteHost) output(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	c, cancel := context.WithTimeout(ctx, remoteCmdTimeout)
	defer cancel()
	return h.run(c, cmd, stdin)
}

// run runs cmd on the host until it ends or ctx does, and returns its
// stdout; a failure carries the end of its stderr.
func (h *remoteHost) run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	s, err := h.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("%s: new SSH session: %w", h.label(), err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errb, stdin
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return nil, fmt.Errorf("%s: %s: %w", h.label(), firstWord(cmd), ctx.Err())
	}
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 500 {
			msg = "…" + msg[len(msg)-500:]
		}
		return out.Bytes(), fmt.Errorf("%s: %s: %v: %s", h.label(), firstWord(cmd), err, msg)
	}
	return out.Bytes(), nil
}

func firstWord(cmd string) string {
	f, _, _ := strings.Cut(cmd, " ")
	return strings.Trim(f, "'")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// start starts side's QEMU on its host and connects to its QMP and
// guest-control sockets. The returned process is not nil once started, so
// the caller can always kill it.
func (r *remoteLab) start(ctx context.Context, side string, mem units.Bytes, atEnd models.TraceEnd, incoming bool) (*qemuProc, *guestLink, error) {
	h := r.hosts[side]
	args := qemuArgs(&Image{Kernel: h.kernel, Initramfs: h.initramfs}, h.dir, side, mem, r.kvmAccel, atEnd, incoming)
	sock := path.Join(h.dir, side+".qmp")
	errPath := path.Join(h.dir, side+".stderr")
	full := append([]string{h.spec.QEMU, "-name", "migsim-" + side, "-qmp", "unix:" + sock + ",server=on,wait=off",
		"-pidfile", path.Join(h.dir, side+".pid")}, args...)
	quoted := make([]string, len(full))
	for i, a := range full {
		quoted[i] = shellQuote(a)
	}
	// The wrapper prints QEMU's pid, kills QEMU when the session's stdin
	// closes (the lab closed it, or the connection died), and exits with
	// QEMU.
	script := "exec 3<&0; cd " + shellQuote(h.dir) + " || exit 1; " +
		strings.Join(quoted, " ") + " </dev/null >" + shellQuote(errPath) + " 2>&1 3<&- & pid=$!; echo $pid; " +
		"(cat <&3 >/dev/null 2>&1; kill -9 $pid 2>/dev/null) >/dev/null 2>&1 & exec 3<&-; wait $pid"
	s, err := h.client.NewSession()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: new SSH session: %w", h.label(), err)
	}
	stdin, err1 := s.StdinPipe()
	stdout, err2 := s.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		s.Close()
		return nil, nil, err
	}
	if err := s.Start(script); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("%s: starting QEMU: %w", h.label(), err)
	}
	p := &qemuProc{name: side, dir: h.dir, stderr: errPath, exited: make(chan struct{})}
	go func() {
		br := bufio.NewReader(stdout)
		_, _ = br.ReadString('\n') // the pid; the pid file serves cleanup
		_, _ = io.Copy(io.Discard, br)
	}()
	go func() {
		p.err = s.Wait()
		close(p.exited)
	}()
	var once sync.Once
	p.hardKill = func() {
		once.Do(func() {
			stdin.Close() // the wrapper kills QEMU
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
			}
			s.Close()
		})
	}
	p.readStderr = func() ([]byte, error) {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return h.run(c, "cat "+shellQuote(errPath), nil)
	}
	dial := func(path string) func(context.Context) (net.Conn, error) {
		return func(ctx context.Context) (net.Conn, error) { return h.client.DialContext(ctx, "unix", path) }
	}
	if err := p.connectQMP(ctx, sock, dial(sock)); err != nil {
		return p, nil, fmt.Errorf("%s: %w", h.label(), err)
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctl := path.Join(h.dir, side+".ctl")
	g, err := dialGuestWith(gctx, side, ctl, dial(ctl))
	if err != nil {
		return p, nil, fmt.Errorf("%s: %w", h.label(), err)
	}
	return p, g, nil
}

func (r *remoteLab) accel() string { return r.kvmAccel }

// network is nil: the lab does not shape the hosts' path.
func (r *remoteLab) network() *NetShape { return nil }

// capabilityError explains a refused migrate-set-capabilities: the local
// userfaultfd probe says nothing about the host.
func (r *remoteLab) capabilityError(side string, _ MigrationParams, err error) error {
	return fmt.Errorf("%s host: migrate-set-capabilities: %w (for post-copy the SSH user must be allowed userfaultfd on the host: root, CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)", side, err)
}

// oneClock is false: each host stamps its QEMU's events on its own clock.
func (r *remoteLab) oneClock() bool { return false }

// where says where the run's folders are.
func (r *remoteLab) where() string {
	var parts []string
	for _, side := range []string{"source", "destination"} {
		if h := r.hosts[side]; h != nil {
			parts = append(parts, h.spec.SSH+":"+h.dir)
		}
	}
	return strings.Join(parts, " and ")
}

// consoleTail returns the end of side's kernel console log, for errors.
func (r *remoteLab) consoleTail(side string) string {
	h := r.hosts[side]
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := h.run(c, "tail -c 1500 "+shellQuote(path.Join(h.dir, side+".console")), nil)
	if err != nil || len(b) == 0 {
		return ""
	}
	return "\n" + side + " console:\n" + string(b)
}

// incomingURI is what the destination listens on: its migration address,
// a port QEMU picks.
func (r *remoteLab) incomingURI() string {
	return "tcp:" + net.JoinHostPort(r.hosts["destination"].spec.MigrationAddress, "0")
}

// migrateURI is where the source migrates to.
func (r *remoteLab) migrateURI(port string) (string, error) {
	return "tcp:" + net.JoinHostPort(r.hosts["destination"].spec.MigrationAddress, port), nil
}

// pageHashes runs the replayer's -hash-ram on side's RAM file.
func (r *remoteLab) pageHashes(ctx context.Context, side string) ([]uint64, error) {
	h := r.hosts[side]
	c, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	b, err := h.run(c, shellQuote(h.guest)+" -hash-ram "+shellQuote(path.Join(h.dir, side+".ram")), nil)
	if err != nil {
		return nil, fmt.Errorf("hashing the %s's RAM: %w", side, err)
	}
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("hashing the %s's RAM: %d bytes of hashes, not a multiple of 8", side, len(b))
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out, nil
}

// zeroPages counts the source's all-zero RAM pages.
func (r *remoteLab) zeroPages(ctx context.Context) (uint64, error) {
	hs, err := r.pageHashes(ctx, "source")
	if err != nil {
		return 0, err
	}
	z := pageHash(zeroPage[:])
	var n uint64
	for _, v := range hs {
		if v == z {
			n++
		}
	}
	return n, nil
}

// compareRAM compares both sides' RAM page by page, by hash; hinting runs
// are local only, so hinted is always false.
func (r *remoteLab) compareRAM(ctx context.Context, _ bool) (c ramComparison, err error) {
	var hs [2][]uint64
	var errs [2]error
	var wg sync.WaitGroup
	for i, side := range []string{"source", "destination"} {
		wg.Go(func() { hs[i], errs[i] = r.pageHashes(ctx, side) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return c, err
	}
	if len(hs[0]) != len(hs[1]) {
		return c, fmt.Errorf("%w: the source's RAM has %d pages, the destination's %d", ErrMemoryMismatch, len(hs[0]), len(hs[1]))
	}
	c.same, c.bad, c.firstBad = compareHashes(hs[0], hs[1])
	return c, nil
}

// compareHashes compares two per-page hash lists.
func compareHashes(a, b []uint64) (same, bad, firstBad uint64) {
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			same++
			continue
		}
		if bad == 0 {
			firstBad = uint64(i)
		}
		bad++
	}
	return same, bad, firstBad
}

// pageHash is the replayer's -hash-ram hash of one page: the first 8 bytes
// of its SHA-256, little-endian (cmd/migsim-guest computes the same).
func pageHash(page []byte) uint64 {
	s := sha256.Sum256(page)
	return binary.LittleEndian.Uint64(s[:8])
}

// close removes everything the run made on the hosts and closes the
// connections: call it after the QEMUs are killed.
func (r *remoteLab) close() {
	for _, side := range []string{"source", "destination"} {
		h := r.hosts[side]
		if h == nil {
			continue
		}
		if h.dir != "" {
			// QEMU's pid files name anything still running (a QEMU whose
			// wrapper lost its session); kill only a process whose command
			// line names the run folder.
			dir := shellQuote(h.dir)
			script := "for f in " + dir + "/*.pid; do [ -f \"$f\" ] || continue; p=$(cat \"$f\"); " +
				"grep -qF " + dir + " /proc/$p/cmdline 2>/dev/null && kill -9 $p; done; rm -rf " + dir
			c, cancel := context.WithTimeout(context.Background(), remoteCleanupTime)
			if _, err := h.run(c, script, nil); err != nil && r.logf != nil {
				r.logf("cleanup: %v (remove %s on %s by hand)", err, h.dir, h.spec.SSH)
			}
			cancel()
		}
		h.client.Close()
	}
}

// guestFromInitramfs returns the replayer binary (/init) of a boot kit's
// initramfs, for the hosts to hash RAM files with.
func guestFromInitramfs(initramfs string) ([]byte, error) {
	f, err := os.Open(initramfs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("initramfs %s: %w", initramfs, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("initramfs %s: %w", initramfs, err)
	}
	rr := cpio.Newc.Reader(bytes.NewReader(raw))
	for {
		rec, err := rr.ReadRecord()
		if err != nil {
			return nil, fmt.Errorf("initramfs %s: no init (the replayer): %w", initramfs, err)
		}
		if rec.Name == "init" {
			return io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		}
	}
}
