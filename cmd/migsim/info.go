package main

import (
	"fmt"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

func newProfilesCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the built-in network profiles (network.profile)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tBANDWIDTH\tRTT\tLOSS\tDESCRIPTION")
			for _, p := range scenarios.Profiles() {
				fmt.Fprintf(tw, "%s\t%v\t%v\t%g\t%s\n", p.Name, p.Bandwidth, p.RTT, p.Loss, p.Description)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(s.out, "\nSources:")
			for _, p := range scenarios.Profiles() {
				fmt.Fprintf(s.out, "  %s: %s\n", p.Name, p.Source)
			}
			_, err := fmt.Fprintf(s.out, "\nSet one with --set network.profile=NAME; network.bandwidth, rtt and loss override it.\n")
			return err
		},
	}
}

func newModelsCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "models",
		Short: "List the migration models (model.name)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSUMMARY\tREFERENCE")
			for _, m := range models.Registry() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.Summary, m.Reference)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err := fmt.Fprintln(s.out, "\nEach model's parameters are listed by 'migsim scenario explain'.")
			return err
		},
	}
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print migsim's version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			version, goVersion, rev := "(unknown)", "", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" {
					version = bi.Main.Version
				}
				goVersion = bi.GoVersion
				for _, kv := range bi.Settings {
					switch kv.Key {
					case "vcs.revision":
						rev = kv.Value
					case "vcs.modified":
						if kv.Value == "true" {
							rev += " (modified)"
						}
					}
				}
			}
			fmt.Fprintf(s.out, "migsim %s\n", version)
			if goVersion != "" {
				fmt.Fprintf(s.out, "built with %s\n", goVersion)
			}
			if rev != "" {
				fmt.Fprintf(s.out, "revision %s\n", rev)
			}
			return nil
		},
	}
}
