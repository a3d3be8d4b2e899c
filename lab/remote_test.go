package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

const sshdPath = "/usr/sbin/sshd"

// testSSHD is a throwaway OpenSSH server on 127.0.0.1 with its own host key
// and an authorized key the test made, both in a temp dir.
type testSSHD struct {
	addr       string // 127.0.0.1:PORT
	dir        string
	clientKey  string // the authorized private key's file
	knownHosts string // a known_hosts file holding the host key
}

// writeKey makes an ed25519 key, writes its private half in OpenSSH format
// to path and returns the public half.
func writeKey(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "migsim test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// startSSHD starts sshd -D on a free loopback port, skipping the test when
// sshd is not installed or the test is not root (sshd must be able to log
// a user in). It does not depend on a system sshd service.
func startSSHD(t *testing.T) *testSSHD {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("skipping: %s not installed (Debian: openssh-server; validate/ci-install.sh installs it)", sshdPath)
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: the throwaway sshd needs root to log a user in")
	}
	dir := t.TempDir()
	hostPub := writeKey(t, filepath.Join(dir, "host_key"))
	s := &testSSHD{dir: dir, clientKey: filepath.Join(dir, "client_key"), knownHosts: filepath.Join(dir, "known_hosts")}
	clientPub := writeKey(t, s.clientKey)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(s.addr)
	if err := os.WriteFile(s.knownHosts, []byte(knownhosts.Line([]string{s.addr}, hostPub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s/host_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
LogLevel ERROR
`, port, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd insists on its privilege separation folder.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v; %s", s.addr, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// hostsFile writes a hosts file whose two hosts are the test sshd, with
// work dir work, and loads it.
func (s *testSSHD) hostsFile(t *testing.T, work, extra string) *Hosts {
	t.Helper()
	host := func(name string) string {
		return fmt.Sprintf("%s:\n  ssh: %s\n  user: root\n  identity_file: client_key\n  known_hosts: known_hosts\n  work_dir: %s\n  migration_address: 127.0.0.1\n%s",
			name, s.addr, work, extra)
	}
	path := filepath.Join(s.dir, "hosts.yaml")
	if err := os.WriteFile(path, []byte(host("source")+host("destination")), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRunRemote runs a real migration whose "remote" hosts are both this
// machine reached through a throwaway sshd: the whole remote path (SSH
// connection, upload, QEMU as a remote command, QMP and guest control
// through streamlocal channels, host-to-host migration, RAM hashes) must
// give a completed, verified run, and leave no process or file behind.
func TestRunRemote(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	sshd := startSSHD(t)
	work := shmDir(t)
	hosts := sshd.hostsFile(t, work, "")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mig := precopyMigration(400 * units.Mbit)
	var log strings.Builder
	run, err := RunRemote(ctx, Options{Image: img, TraceMemory: smallMemory, Migration: mig,
		Log: &log, Warmup: 500 * time.Millisecond}, hosts)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("real: %+v; boot %.1fs, migration %.1fs, verify %.1fs, zero pages at start %d",
		run.Metrics, run.BootS, run.MigrationWallS, run.VerifyS, run.ZeroPagesAtStart)
	checkRealRun(t, run, smallMemory, mig.MaxBandwidth)
	// The trace keeps a quarter of its memory zero, untouched: the source's
	// RAM hashes must find at least those pages zero.
	if least := uint64(float64(smallMemory) / 4096 * smallWorkload.ZeroFraction * 0.9); run.ZeroPagesAtStart < least {
		t.Errorf("%d zero pages at start, want at least %d (the trace's zero class)", run.ZeroPagesAtStart, least)
	}
	if !strings.Contains(log.String(), "host root@"+sshd.addr) {
		t.Errorf("log does not name the remote hosts:\n%s", log.String())
	}
	labtest.CheckNothingLeft(t, work)
}

// TestRunRemoteCancelLeavesNothing cancels a remote run in the middle of a
// migration that cannot finish soon: the remote QEMUs and run folders must
// be gone when RunRemote returns.
func TestRunRemoteCancelLeavesNothing(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	sshd := startSSHD(t)
	work := shmDir(t)
	hosts := sshd.hostsFile(t, work, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := labtest.StartUntilMigrating(t, func(log io.Writer) error {
		// 8 Mbit/s: a minute or more for round 1.
		_, err := RunRemote(ctx, Options{Image: img, TraceMemory: smallMemory,
			Migration: precopyMigration(8 * units.Mbit), Log: log, Warmup: 200 * time.Millisecond}, hosts)
		return err
	})
	time.Sleep(time.Second)
	// Besides the QEMUs, their shell wrappers name the work dir too.
	var qemus []string
	for _, p := range labtest.Processes(t, work) {
		if _, cl, _ := strings.Cut(p, ": "); strings.HasPrefix(cl, QEMUBinary+" ") {
			qemus = append(qemus, p)
		}
	}
	if len(qemus) != 2 {
		t.Errorf("mid-migration: want the 2 remote QEMU processes running, found %d: %v", len(qemus), qemus)
	}
	labtest.CancelAndWait(t, cancel, done, 60*time.Second)
	labtest.CheckNothingLeft(t, work)
}

// TestRemoteConnectErrors checks the messages for an unknown host key, a
// refused key, an unreachable host and a missing QEMU, against the
// throwaway sshd.
func TestRemoteConnectErrors(t *testing.T) {
	sshd := startSSHD(t)
	work := shmDir(t)
	img := &Image{Kernel: "/nonexistent", Initramfs: "/nonexistent"}
	try := func(mutate func(*Hosts)) error {
		h := sshd.hostsFile(t, work, "")
		mutate(h)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		r := &remoteLab{hosts: map[string]*remoteHost{}}
		defer r.close()
		rh := &remoteHost{side: "source", spec: h.Source}
		c, err := dialHost(ctx, rh, h.InsecureIgnoreHostKey)
		if err != nil {
			return err
		}
		rh.client = c
		r.hosts["source"] = rh
		return rh.prepare(ctx, img, nil)
	}
	empty := filepath.Join(sshd.dir, "empty_known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(sshd.dir, "other_key")
	writeKey(t, other)
	cases := []struct {
		name   string
		mutate func(*Hosts)
		want   string
	}{
		{"unknown host key", func(h *Hosts) { h.Source.KnownHosts = empty }, "unknown host key"},
		{"refused key", func(h *Hosts) { h.Source.IdentityFile = other }, "authentication failed"},
		{"unreachable", func(h *Hosts) { h.Source.SSH = "127.0.0.1:1" }, "unreachable"},
		{"no QEMU", func(h *Hosts) { h.Source.QEMU = "/nonexistent/qemu" }, "QEMU not found"},
		{"not tmpfs", func(h *Hosts) { h.Source.WorkDir = sshd.dir }, "not tmpfs"},
	}
	for _, tc := range cases {
		err := try(tc.mutate)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir not empty after the failed connections: %v", ents)
	}
}

func TestLoadHostsErrors(t *testing.T) {
	dir := t.TempDir()
	good := "source:\n  ssh: a.example\n  user: u\n  identity_file: k\ndestination:\n  ssh: b.example:2222\n  user: u\n  identity_file: /k\n  migration_address: 10.0.0.2\n"
	cases := []struct {
		name, text, want string
	}{
		{"unknown key", good + "  qemu_path: /x\n", "hosts.yaml: line 10: field qemu_path not found"},
		{"missing user", strings.Replace(good, "  user: u\n", "", 1), "hosts.yaml:1: source.user: missing"},
		{"missing address", strings.Replace(good, "  migration_address: 10.0.0.2\n", "", 1), "hosts.yaml:5: destination.migration_address: missing"},
		{"relative work dir", good + "  work_dir: shm\n", "hosts.yaml:10: destination.work_dir"},
		{"no destination", good[:strings.Index(good, "destination")], "no destination host"},
	}
	for _, tc := range cases {
		path := filepath.Join(dir, "hosts.yaml")
		if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadHosts(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadHosts("../validate/hosts.example.yaml"); err != nil {
		t.Errorf("the shipped example: %v", err)
	}
	path := filepath.Join(dir, "hosts.yaml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Source.SSH != "a.example:22" || h.Destination.SSH != "b.example:2222" || h.Source.IdentityFile != filepath.Join(dir, "k") ||
		h.Source.WorkDir != "/dev/shm" || h.Source.QEMU != QEMUBinary || h.InsecureIgnoreHostKey {
		t.Errorf("defaults and paths: %+v", h)
	}
}

// TestRunRemotePostcopy runs a real post-copy migration through the
// throwaway sshd: the destination's page requests are counted, the
// STOP-to-RESUME downtime comes from both remote QMP event streams, and
// the memory is verified by hash, the pages the destination's guest wrote
// since the switch aside.
func TestRunRemotePostcopy(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	sshd := startSSHD(t)
	work := shmDir(t)
	hosts := sshd.hostsFile(t, work, "")
	guestPages := uint64(smallMemory+DefaultGuestOverhead) / 4096
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	run, err := RunRemote(ctx, Options{Image: img, TraceMemory: smallMemory, Migration: postcopyMigration(200 * units.Mbit), Log: &log,
		MigrationTimeout: 2 * time.Minute}, hosts)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	checkPostcopyRun(t, run, guestPages)
	labtest.CheckNothingLeft(t, work)
}

// TestRemoteQEMUDiesWithConnection drops the SSH connection under a
// running remote QEMU, as when the lab is killed outright: the wrapper
// must kill QEMU at once, with no help from the lab.
func TestRemoteQEMUDiesWithConnection(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	sshd := startSSHD(t)
	work := shmDir(t)
	hosts := sshd.hostsFile(t, work, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := openRemote(ctx, hosts, img, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	h := r.hosts["source"]
	p, g, err := r.start(ctx, "source", smallMemory+DefaultGuestOverhead, models.AtEndLoop, false)
	if err != nil {
		if p != nil {
			p.kill()
		}
		r.close()
		t.Fatal(err)
	}
	qemus := func() int {
		n := 0
		for _, p := range labtest.Processes(t, h.dir) {
			if _, cl, _ := strings.Cut(p, ": "); strings.HasPrefix(cl, QEMUBinary+" ") {
				n++
			}
		}
		return n
	}
	if n := qemus(); n != 1 {
		t.Errorf("want the source QEMU running, found %d", n)
	}
	h.client.Close() // the lab "dies": its connection drops
	deadline := time.Now().Add(10 * time.Second)
	for qemus() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := qemus(); n > 0 {
		t.Errorf("%d QEMU still running 10s after its SSH connection dropped", n)
	}
	g.close()
	p.kill()
	// Reconnect to remove the run folders.
	if h.client, err = dialHost(ctx, h, false); err != nil {
		t.Fatal(err)
	}
	r.close()
	labtest.CheckNothingLeft(t, work)
}
