package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"nothing recorded", debug.BuildInfo{}, "(devel)"},
		{"go run", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"a tag", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0e6a406608b6ef0024a4ce633fe032a9e84f79ba"}}}, "v1.2.3"},
		{"a pseudo-version with the revision", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206173636-0e6a406608b6+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0e6a406608b6ef0024a4ce633fe032a9e84f79ba"}, {Key: "vcs.modified", Value: "true"}}},
			"v0.0.0-20261206173636-0e6a406608b6+dirty"},
		{"(devel) with a revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0e6a406608b6ef0024a4ce633fe032a9e84f79ba"}, {Key: "vcs.modified", Value: "true"}}},
			"(devel)-0e6a406608b6+dirty"},
		{"(devel) with a clean revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			"(devel)-abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(&tc.bi).String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromBuildInfo(t *testing.T) {
	bi := debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.0.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "r"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := fromBuildInfo(&bi)
	want := Info{Version: "v1.0.0", Revision: "r", Time: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.0"}
	if got != want {
		t.Errorf("fromBuildInfo = %+v, want %+v", got, want)
	}
}
