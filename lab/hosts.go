package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Hosts is a hosts file: the two machines a remote run migrates between
// (see [RunRemote] and validate/hosts.example.yaml).
type Hosts struct {
	// Path is the file the hosts were read from, for messages.
	Path string `yaml:"-"`
	// Source and Destination are the two hosts.
	Source      HostSpec `yaml:"source"`
	Destination HostSpec `yaml:"destination"`
	// InsecureIgnoreHostKey turns SSH host-key checking off for both
	// hosts. Off by default; only for throwaway lab machines.
	InsecureIgnoreHostKey bool `yaml:"insecure_ignore_host_key"`
}

// HostSpec is one host of a hosts file.
type HostSpec struct {
	// SSH is the host's SSH address, host or host:port (port 22 when
	// absent).
	SSH string `yaml:"ssh"`
	// User is the SSH user. It must be allowed to run QEMU, read
	// /dev/kvm (for KVM) and use userfaultfd (for post-copy).
	User string `yaml:"user"`
	// IdentityFile is the private key the lab authenticates with
	// (unencrypted OpenSSH or PEM format). "~/" and paths relative to the
	// hosts file are resolved.
	IdentityFile string `yaml:"identity_file"`
	// KnownHosts is the known_hosts file that must hold the host's key
	// (default ~/.ssh/known_hosts).
	KnownHosts string `yaml:"known_hosts"`
	// QEMU is the QEMU binary on the host (default qemu-system-x86_64,
	// looked up in the remote PATH).
	QEMU string `yaml:"qemu"`
	// WorkDir is the folder on the host under which the run's own folder
	// (boot kit, sockets, logs, guest RAM) is made and removed; it must be
	// on tmpfs (default /dev/shm).
	WorkDir string `yaml:"work_dir"`
	// MigrationAddress is the address the host listens on for the
	// migration stream when it is the destination (an IP or name the
	// source host can reach); required for the destination.
	MigrationAddress string `yaml:"migration_address"`

	line int // the host's line in the file
}

// HostsLocal is the --hosts value that means this machine.
const HostsLocal = "local"

// LoadHosts reads and checks a hosts file. Unknown keys, missing required
// keys and malformed values are errors naming the file, the line and the
// key.
func LoadHosts(path string) (*Hosts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	var h Hosts
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&h); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("hosts file %s: %s", path, strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("hosts file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	h.Path = path
	h.Source.line = keyLine(&root, "source")
	h.Destination.line = keyLine(&root, "destination")
	base := filepath.Dir(path)
	for _, s := range []struct {
		name string
		spec *HostSpec
	}{{"source", &h.Source}, {"destination", &h.Destination}} {
		if err := s.spec.check(path, s.name, base, &root); err != nil {
			return nil, err
		}
	}
	return &h, nil
}

// keyLine returns the line of key path in the document, or 0.
func keyLine(root *yaml.Node, path ...string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// check fills defaults, resolves paths and checks required keys.
func (s *HostSpec) check(file, name, base string, root *yaml.Node) error {
	errAt := func(key, format string, args ...any) error {
		line := keyLine(root, name, key)
		if line == 0 {
			line = s.line
		}
		where := fmt.Sprintf("%s:%d", file, line)
		if line == 0 {
			where = file
		}
		return fmt.Errorf("hosts file %s: %s.%s: %s", where, name, key, fmt.Sprintf(format, args...))
	}
	if s.line == 0 && s.SSH == "" {
		return fmt.Errorf("hosts file %s: no %s host: want a %q mapping with at least ssh, user, identity_file", file, name, name)
	}
	if s.SSH == "" {
		return errAt("ssh", "missing: want the host's SSH address, host or host:port")
	}
	if _, _, err := net.SplitHostPort(s.SSH); err != nil {
		if strings.Count(s.SSH, ":") > 1 && !strings.HasPrefix(s.SSH, "[") {
			s.SSH = "[" + s.SSH + "]"
		}
		s.SSH = net.JoinHostPort(strings.Trim(s.SSH, "[]"), "22")
	}
	if s.User == "" {
		return errAt("user", "missing: want the SSH user")
	}
	if s.IdentityFile == "" {
		return errAt("identity_file", "missing: want the private key file the lab logs in with")
	}
	s.IdentityFile = resolvePath(base, s.IdentityFile)
	if s.KnownHosts == "" {
		s.KnownHosts = "~/.ssh/known_hosts"
	}
	s.KnownHosts = resolvePath(base, s.KnownHosts)
	if s.QEMU == "" {
		s.QEMU = QEMUBinary
	}
	if s.WorkDir == "" {
		s.WorkDir = "/dev/shm"
	}
	if !strings.HasPrefix(s.WorkDir, "/") {
		return errAt("work_dir", "%q is not an absolute path on the host", s.WorkDir)
	}
	if name == "destination" && s.MigrationAddress == "" {
		return errAt("migration_address", "missing: want the address the destination listens on for the migration stream, reachable from the source host")
	}
	if strings.ContainsAny(s.MigrationAddress, " /:") && net.ParseIP(s.MigrationAddress) == nil {
		return errAt("migration_address", "%q is neither an IP address nor a host name", s.MigrationAddress)
	}
	return nil
}

// resolvePath expands a leading ~/ and makes a relative path relative to
// base (the hosts file's folder).
func resolvePath(base, p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// ParseHostsFlag reads the --hosts value: nil for [HostsLocal] (or empty),
// else the hosts file it names.
func ParseHostsFlag(v string) (*Hosts, error) {
	if v == "" || v == HostsLocal {
		return nil, nil
	}
	return LoadHosts(v)
}

// ErrRemoteShaping reports --shaping netns with remote hosts: network
// namespaces, tbf and the delay relay shape a path on this machine only.
var ErrRemoteShaping = errors.New("--shaping netns works with --hosts local only: the namespaces, tbf and delay relay shape a path on this machine; shape the link between remote hosts yourself or use --shaping qemu")
