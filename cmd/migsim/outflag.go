package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
)

// One meaning for -o: in every command -o (--output) names the output
// format of what the command prints (table, json, csv), and --out names a
// file or directory it writes. Commands where -o used to be a path
// (sweep, merge, plot, calibrate, capture, trace gen, trace import) keep
// accepting -o PATH and --output PATH for one release, with a warning on
// stderr; calibrate, whose -o is now the format of --evaluate, takes a
// value that is not one of its formats as the old path.

// outFlag is the --out PATH flag of a command, with the deprecated
// -o/--output PATH spelling.
type outFlag struct {
	path    string   // --out
	old     string   // -o/--output as given
	formats []string // the formats -o names in this command; nil when -o is only the old path
	format  *string  // where a format given with -o goes
}

// registerOut registers --out PATH (usage says what it is) and, when
// format is nil, a hidden -o/--output PATH that is deprecated. When
// format is not nil, -o/--output FORMAT is the command's format flag
// (formats, default def), and a value that is not a format is the old
// path spelling.
func registerOut(cmd *cobra.Command, usage string, format *string, def string, formats ...string) *outFlag {
	o := &outFlag{formats: formats, format: format}
	fl := cmd.Flags()
	fl.StringVar(&o.path, "out", "", usage)
	if format == nil {
		fl.StringVarP(&o.old, "output", "o", "", "deprecated: use --out")
		fl.Lookup("output").Hidden = true
		return o
	}
	fl.StringVarP(&o.old, "output", "o", def, fmt.Sprintf("output format: %s (a path here is the deprecated spelling of --out)", joinOr(formats)))
	return o
}

// resolve applies the deprecated spelling: it warns on w when -o or
// --output gave a path, and returns a usage error when --out was given as
// well. Call it before using o.path or the format.
func (o *outFlag) resolve(cmd *cobra.Command, w io.Writer) error {
	fl := cmd.Flags()
	if o.format != nil {
		*o.format = o.old
		if slices.Contains(o.formats, o.old) {
			return nil
		}
	}
	if !fl.Changed("output") {
		return nil
	}
	if fl.Changed("out") {
		if o.format != nil {
			return usageErrorf("invalid value %q for -o/--output: want %s", o.old, joinOr(o.formats))
		}
		return usageErrorf("give the path with --out only (-o/--output PATH is its deprecated spelling)")
	}
	if w == nil {
		w = cmd.ErrOrStderr()
	}
	fmt.Fprintf(w, "warning: %s: -o/--output PATH is deprecated and will be removed in the next release: use --out %s (-o names the output format in every command)\n",
		cmd.CommandPath(), o.old)
	o.path = o.old
	if o.format != nil {
		*o.format = o.formats[0]
	}
	return nil
}

// joinOr joins words as "a, b or c".
func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	s := words[0]
	for _, w := range words[1 : len(words)-1] {
		s += ", " + w
	}
	return s + " or " + words[len(words)-1]
}
