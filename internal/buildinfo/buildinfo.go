package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Info is what the binary records about its build.
type Info struct {
	// Version is the main module's version: a release tag, a pseudo-version
	// derived from the revision, or "(devel)" when none was recorded.
	Version string
	// Revision is the VCS revision (a git commit hash), "" when not
	// recorded.
	Revision string
	// Time is the revision's commit time (RFC 3339), "" when not recorded.
	Time string
	// Modified is true when the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
}

// Read returns the build information of the running binary.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			info.Revision = kv.Value
		case "vcs.time":
			info.Time = kv.Value
		case "vcs.modified":
			info.Modified = kv.Value == "true"
		}
	}
	return info
}

// String returns the version in one word, as results carry it: the module
// version when it names the revision (a tag or a pseudo-version),
// otherwise "(devel)" followed by the short revision and "+dirty" for a
// modified tree, when known. Deterministic for a given binary.
func (i Info) String() string {
	short := i.Revision
	if len(short) > 12 {
		short = short[:12]
	}
	if i.Version != "(devel)" && (short == "" || strings.Contains(i.Version, short) || !strings.HasPrefix(i.Version, "v0.0.0-")) {
		return i.Version
	}
	if short == "" {
		return i.Version
	}
	s := i.Version + "-" + short
	if i.Modified {
		s += "+dirty"
	}
	return s
}

// Version returns [Read]().String().
func Version() string { return Read().String() }
