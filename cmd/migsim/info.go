package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/internal/buildinfo"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

func newProfilesCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the built-in network profiles (network.profile)",
		Long: `List the built-in network profiles (network.profile) with what TCP makes of
them: the steady rate of one stream (QEMU's migration channel), of 8
parallel streams, and how many streams fill the link. One stream is held to
the least of tcp_window/RTT, Mathis's MSS/(RTT·√loss)·√(3/2) and the link;
parallel streams share the link fairly and add up to it.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return profilesRun(s)
		},
	}
}

// profilesRun runs "migsim profiles" with its streams.
func profilesRun(o streams) error {
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBANDWIDTH\tRTT\tJITTER\tLOSS\tWINDOW\t1 STREAM\t8 STREAMS\tSTREAMS TO FILL")
	for _, p := range scenarios.Profiles() {
		path := p.Path()
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%g\t%v\t%s\t%s\t%d\n", p.Name, p.Bandwidth, p.RTT, p.Jitter, p.Loss, p.Window,
			rateText(path.SteadyBps(1, 0, 0)), rateText(path.SteadyBps(8, 0, 0)), path.StreamsToFill(0))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(o.out, "\nDescriptions:")
	for _, p := range scenarios.Profiles() {
		fmt.Fprintf(o.out, "  %s: %s\n", p.Name, p.Description)
	}
	fmt.Fprintln(o.out, "\nSources:")
	for _, p := range scenarios.Profiles() {
		fmt.Fprintf(o.out, "  %s: %s\n", p.Name, p.Source)
	}
	_, err := fmt.Fprintf(o.out, "\nSet one with --set network.profile=NAME; network.bandwidth, rtt, loss, jitter,\n"+
		"tcp_window and mss override it, network.streams sets the stream count.\n"+
		"network.profile=%s takes the path from those keys alone (bandwidth and rtt required).\n", scenarios.CustomProfile)
	return err
}

// rateText prints a rate in bits/s with three significant digits.
func rateText(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.3g Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.3g Mbit/s", bps/1e6)
	}
	return fmt.Sprintf("%.3g kbit/s", bps/1e3)
}

func newModelsCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "models",
		Short: "List the migration models (model.name)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return modelsRun(s)
		},
	}
}

// modelsRun runs "migsim models" with its streams.
func modelsRun(o streams) error {
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSUMMARY\tREFERENCE")
	for _, m := range models.Registry() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.Summary, m.Reference)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(o.out, "\nEach model's parameters are listed by 'migsim scenario explain'.")
	return err
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print migsim's version and the revision it was built from",
		Long: `Print the version the Go toolchain recorded in this binary: the module
version, the VCS revision and commit time, whether the work tree had
uncommitted changes, and the Go version. Results carry the first line's
version as migsim_version. "go build" in a git work tree records the
revision; "go run" and -buildvcs=false do not, and the version is then
"(devel)".`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeVersion(s.out)
		},
	}
}

// writeVersion prints what "migsim version" and "migsim --version" print.
func writeVersion(w io.Writer) error {
	bi := buildinfo.Read()
	fmt.Fprintf(w, "migsim %s\n", bi)
	if bi.Revision != "" {
		rev := bi.Revision
		if bi.Time != "" {
			rev += " (" + bi.Time + ")"
		}
		if bi.Modified {
			rev += ", modified"
		}
		fmt.Fprintf(w, "revision %s\n", rev)
	} else {
		fmt.Fprintln(w, "revision unknown (built without VCS information: go run, or -buildvcs=false)")
	}
	if bi.GoVersion != "" {
		fmt.Fprintf(w, "built with %s\n", bi.GoVersion)
	}
	return nil
}
