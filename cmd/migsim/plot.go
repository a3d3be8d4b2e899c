package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/plots"
)

// plotOptions are the options of "migsim plot".
type plotOptions struct {
	streams
	file          string
	kind          string
	x, y, z, by   string
	where         []string
	errors        string
	logX, logY    bool
	title         string
	output        string
	width, height string
	dpi           int
	point         int
}

// newPlotCmd returns "migsim plot". runF, when not nil, replaces the
// drawing so that tests can check flag parsing alone.
func newPlotCmd(s streams, runF func(*cobra.Command, *plotOptions) error) *cobra.Command {
	o := &plotOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "plot FILE",
		Short: "Draw a figure from sweep results or from one run",
		Long: `Draw a figure as PNG, SVG or PDF (by the extension of -o) with paper-like
defaults: axis labels with units, a legend, colour-blind-safe colours.

Kinds (--kind):
  line     --y against --x from a results.csv, one line per value of --by, with
           error bars over the rows that share a point of a line (repeats
           over seeds): the mean and its 95% confidence interval by default
  cdf      the distribution of --y over the rows, one curve per --by
  heatmap  the mean of --z over the grid of --x and --y values, e.g. the
           convergence region (--z converged) over dirty rate and bandwidth
  rounds   one bar per pass of one run (--y bytes, pages, duration_s,
           dirtied_pages, ...): FILE is 'migsim run -o json' output, or a
           results.jsonl with --point N
The kind defaults to rounds for .json and .jsonl files, else line.

Columns are named as in results.csv; a unique last part of a name will do
(--x dirty_rate for workload.generator.dirty_rate, --x bandwidth for
network.bandwidth_bps). --where column=value keeps matching rows only.`,
		Example: `  migsim plot results.csv --x dirty_rate --y total_time_s --by model -o time.pdf
  migsim plot results.csv --kind cdf --y downtime_s --by model -o downtime.svg
  migsim plot results.csv --kind heatmap --x dirty_rate --y bandwidth --z converged -o region.png
  migsim run -o json > run.json && migsim plot run.json -o rounds.png`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			if o.kind == "" {
				o.kind = "line"
				if ext := filepath.Ext(o.file); ext == ".json" || ext == ".jsonl" {
					o.kind = "rounds"
				}
			}
			if err := oneOf("kind", o.kind, "line", "cdf", "heatmap", "rounds"); err != nil {
				return err
			}
			if err := oneOf("errors", o.errors, plots.ErrorsCI95, plots.ErrorsStd, plots.ErrorsNone); err != nil {
				return err
			}
			need := map[string][]string{"line": {"x", "y"}, "cdf": {"y"}, "heatmap": {"x", "y", "z"}}[o.kind]
			for _, f := range need {
				if !cmd.Flags().Changed(f) {
					return usageErrorf("plot --kind %s needs --%s", o.kind, f)
				}
			}
			if o.output == "" {
				o.output = strings.TrimSuffix(o.file, filepath.Ext(o.file)) + "-" + o.kind + ".png"
			}
			if runF != nil {
				return runF(cmd, o)
			}
			return runPlot(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.kind, "kind", "", "line, cdf, heatmap or rounds (default: rounds for .json/.jsonl, else line)")
	fl.StringVar(&o.x, "x", "", "column on the x axis")
	fl.StringVar(&o.y, "y", "", "column on the y axis (for rounds: the per-round value, default bytes)")
	fl.StringVar(&o.z, "z", "", "column shown in colour (heatmap)")
	fl.StringVar(&o.by, "by", "", "column whose values make the series")
	fl.StringArrayVar(&o.where, "where", nil, "keep rows where column=value (repeatable)")
	fl.StringVar(&o.errors, "errors", plots.ErrorsCI95, "error bars of line plots: ci95, std or none")
	fl.BoolVar(&o.logX, "logx", false, "log scale on x")
	fl.BoolVar(&o.logY, "logy", false, "log scale on y")
	fl.StringVar(&o.title, "title", "", "figure title")
	fl.StringVarP(&o.output, "output", "o", "", "figure file: .png, .svg or .pdf (default: FILE without its extension, -KIND.png)")
	fl.StringVar(&o.width, "width", "3.5in", "figure width (in, cm, mm or pt)")
	fl.StringVar(&o.height, "height", "2.6in", "figure height (in, cm, mm or pt)")
	fl.IntVar(&o.dpi, "dpi", plots.DefaultDPI, "PNG resolution, dots per inch")
	fl.IntVar(&o.point, "point", -1, "for rounds from a results.jsonl: the point to draw")
	return cmd
}

func (o *plotOptions) size() (plots.Size, error) {
	w, err := vg.ParseLength(o.width)
	if err != nil || w <= 0 {
		return plots.Size{}, usageErrorf("invalid value %q for --width: want a length such as 3.5in or 9cm", o.width)
	}
	h, err := vg.ParseLength(o.height)
	if err != nil || h <= 0 {
		return plots.Size{}, usageErrorf("invalid value %q for --height: want a length such as 2.6in or 6cm", o.height)
	}
	if o.dpi <= 0 || o.dpi > 2400 {
		return plots.Size{}, usageErrorf("invalid value %d for --dpi: want 1 to 2400", o.dpi)
	}
	return plots.Size{Width: w, Height: h, DPI: o.dpi}, nil
}

func runPlot(o *plotOptions) error {
	size, err := o.size()
	if err != nil {
		return err
	}
	var fig plots.Figure
	if o.kind == "rounds" {
		res, err := readResult(o.file, o.point)
		if err != nil {
			return err
		}
		if fig, err = plots.Rounds(res, o.y, o.title); err != nil {
			return fmt.Errorf("%s: %w", o.file, err)
		}
	} else {
		if fig, err = tablePlot(o); err != nil {
			return fmt.Errorf("%s: %w", o.file, err)
		}
	}
	if err := plots.Save(o.output, fig, size); err != nil {
		return err
	}
	fmt.Fprintf(o.err, "wrote %s\n", o.output)
	return nil
}

// tablePlot draws a line, cdf or heatmap figure from a CSV table.
func tablePlot(o *plotOptions) (plots.Figure, error) {
	f, err := os.Open(o.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := plots.ReadCSV(f)
	if err != nil {
		return nil, err
	}
	if t, err = t.Where(o.where); err != nil {
		return nil, err
	}
	switch o.kind {
	case "cdf":
		return plots.CDF(t, plots.CDFOptions{Y: o.y, By: o.by, LogX: o.logX, Title: o.title})
	case "heatmap":
		return plots.Heatmap(t, plots.HeatmapOptions{X: o.x, Y: o.y, Z: o.z, Title: o.title})
	}
	return plots.Line(t, plots.LineOptions{X: o.x, Y: o.y, By: o.by, Errors: o.errors, LogX: o.logX, LogY: o.logY, Title: o.title})
}

// readResult reads one run's result: a JSON object (migsim run -o json),
// or from a sweep's results.jsonl the line of point (the first line when
// point is negative and the file has one line).
func readResult(path string, point int) (*models.Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	if !bytes.HasPrefix(trimmed, []byte(`{"point":`)) {
		if point >= 0 {
			return nil, fmt.Errorf("%s is one result, not a sweep's results.jsonl: --point does not apply", path)
		}
		var res models.Result
		if err := json.Unmarshal(trimmed, &res); err != nil {
			return nil, fmt.Errorf("%s: not a migsim result: %w", path, err)
		}
		return &res, nil
	}
	if point < 0 {
		if bytes.Contains(trimmed, []byte("\n")) {
			return nil, fmt.Errorf("%s holds several results: choose one with --point N", path)
		}
		var row struct {
			Result *models.Result `json:"result"`
		}
		if err := json.Unmarshal(trimmed, &row); err != nil || row.Result == nil {
			return nil, fmt.Errorf("%s: not a sweep result line: %v", path, err)
		}
		return row.Result, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for line := 1; sc.Scan(); line++ {
		var row struct {
			Point  int            `json:"point"`
			Result *models.Result `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s:%d: not a sweep result line: %w", path, line, err)
		}
		if row.Point == point && row.Result != nil {
			return row.Result, nil
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nil, fmt.Errorf("%s has no point %d", path, point)
}

// plotRounds saves the rounds figure of res to path, for 'migsim run --plot'.
func plotRounds(path string, res *models.Result) error {
	fig, err := plots.Rounds(res, "bytes", "")
	if err != nil {
		return err
	}
	return plots.Save(path, fig, plots.DefaultSize)
}
