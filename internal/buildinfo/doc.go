// Package buildinfo says which migsim build is running, from what the Go
// toolchain records in the binary ([debug.ReadBuildInfo]): the main
// module's version and the version-control revision it was built from.
// Results carry [Version] so that a number can be traced to the code that
// computed it.
//
// "go build" in a git work tree records the revision, its commit time and
// whether the tree had uncommitted changes, and (Go 1.24 and later) a
// module version derived from them, such as
// v0.0.0-20261206173636-0e6a406608b6+dirty. "go run", "go test" and
// builds with -buildvcs=false record none of that; the version is then
// "(devel)", which [Info.String] says plainly.
package buildinfo
