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
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/plots"
	"github.com/migsim/migsim/sweep"
)

// plotOptions are the options of "migsim plot".
type plotOptions struct {
	streams
	file          string
	kind          string
	x, y, z, by   string
	facet         string
	where         []string
	errors        string
	logX, logY    bool
	title         string
	output        string   // the figure file: --out, or its default
	out           *outFlag // --out, and the deprecated -o/--output PATH
	force         bool
	width, height string
	// widthSet and heightSet record that the flags were given.
	widthSet, heightSet bool
	dpi                 int
	point               int
}

// newPlotCmd returns "migsim plot". runF, when not nil, replaces the
// drawing so that tests can check flag parsing alone.
func newPlotCmd(s streams, runF func(*cobra.Command, *plotOptions) error) *cobra.Command {
	o := &plotOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "plot FILE",
		Short: "Draw a figure from sweep results or from one run",
		Long: `Draw a figure as PNG, SVG or PDF (by the extension of --out) with paper-like
defaults: axis labels with units, a legend, colour-blind-safe colours.

Kinds (--kind):
  line     --y against --x from a results.csv, one line per value of --by, with
           error bars over the rows that share a point of a line (repeats
           over seeds): the mean and its 95% confidence interval by default
  cdf      the distribution of --y over the runs, one curve per --by
  heatmap  the mean of --z over the grid of --x and --y values, e.g. the
           convergence region (--z converged, the fraction of runs, on a
           fixed 0-1 scale) over dirty rate and bandwidth
  rounds   one bar per pass of one run (--y bytes, pages, duration_s,
           dirtied_pages, ...): FILE is 'migsim run -o json' output, or a
           results.jsonl with --point N
The kind defaults to rounds for .json and .jsonl files, else line.

Columns are named as in results.csv; a unique last part of a name will do
(--x dirty_rate for workload.generator.dirty_rate, --x bandwidth for
network.bandwidth_bps).

Figures do not average different scenarios: rows that would share a point
(or a heat map cell) must differ only in a repeat axis (seed). When they
also differ in another axis of the sweep (read from sweep.json beside the
CSV; without it, every column that is not a result metric), plot names that
column and stops: keep one value with --where, or show each with --by or
--facet (one panel per value, shared axes).

--where column=value keeps matching rows only (also !=, <, <=, >, >=); a
value takes the units of scenario files (--where bandwidth=10Gbit,
--where memory>=4GiB, --where downtime_s<300ms). Legends and panel titles
show values with units.

Runs that did not complete (completed false, or stop_reason max_time or
no_progress) are no measurements: line plots and heat maps leave them out
of the lines and means and mark them x, a CDF counts them as never
arriving; the caption counts them, states n per point, and counts empty
(not applicable) cells, which are missing values, never 0.`,
		Example: `  migsim plot results.csv --x dirty_rate --y total_time_s --by model --out time.pdf
  migsim plot results.csv --kind cdf --y downtime_s --by model --out downtime.svg
  migsim plot results.csv --x dirty_rate --y downtime_s --by model --facet bandwidth --out downtime.pdf
  migsim plot results.csv --x dirty_rate --y total_time_s --by model --where bandwidth=10Gbit --out time.svg
  migsim plot results.csv --kind heatmap --x dirty_rate --y bandwidth --z converged --where model=precopy --out region.png
  migsim run -o json > run.json && migsim plot run.json --out rounds.png`,
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
			if o.facet != "" && o.kind == "rounds" {
				return usageErrorf("plot --kind rounds draws one run: --facet does not apply")
			}
			o.widthSet, o.heightSet = cmd.Flags().Changed("width"), cmd.Flags().Changed("height")
			if _, err := o.size(1); err != nil {
				return err
			}
			if err := o.out.resolve(cmd, o.err); err != nil {
				return err
			}
			o.output = o.out.path
			if o.output == "" {
				o.output = strings.TrimSuffix(o.file, filepath.Ext(o.file)) + "-" + o.kind + ".png"
			}
			if err := checkOverwrite(o.output, o.force); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, o)
			}
			return plotRun(o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.kind, "kind", "", "line, cdf, heatmap or rounds (default: rounds for .json/.jsonl, else line)")
	fl.StringVar(&o.x, "x", "", "column on the x axis")
	fl.StringVar(&o.y, "y", "", "column on the y axis (for rounds: the per-round value, default bytes)")
	fl.StringVar(&o.z, "z", "", "column shown in colour (heatmap)")
	fl.StringVar(&o.by, "by", "", "column whose values make the series")
	fl.StringVar(&o.facet, "facet", "", "column whose values make the panels (small multiples with shared axes)")
	fl.StringArrayVar(&o.where, "where", nil, "keep rows where column=value, or !=, <, <=, >, >=; values take units, e.g. bandwidth=10Gbit (repeatable)")
	fl.StringVar(&o.errors, "errors", plots.ErrorsCI95, "error bars of line plots: ci95, std or none")
	fl.BoolVar(&o.logX, "logx", false, "log scale on x")
	fl.BoolVar(&o.logY, "logy", false, "log scale on y")
	fl.StringVar(&o.title, "title", "", "figure title")
	o.out = registerOut(cmd, "figure file: .png, .svg or .pdf (default: FILE without its extension, -KIND.png)", nil, "")
	fl.StringVar(&o.width, "width", "3.5in", "figure width (in, cm, mm or pt; with --facet, default 7in)")
	fl.StringVar(&o.height, "height", "2.6in", "figure height (in, cm, mm or pt; with --facet, default 2.4in per row of panels)")
	fl.IntVar(&o.dpi, "dpi", plots.DefaultDPI, "PNG resolution, dots per inch")
	fl.IntVar(&o.point, "point", -1, "for rounds from a results.jsonl: the point to draw")
	fl.BoolVar(&o.force, "force", false, "replace the figure file if it exists")
	return cmd
}

// size returns the figure's size: --width and --height, whose defaults
// grow with the panels of a faceted figure (7in wide, 2.4in per row).
func (o *plotOptions) size(panels int) (plots.Size, error) {
	width, height := o.width, o.height
	if panels > 1 {
		cols := min(panels, 3)
		if panels == 4 {
			cols = 2
		}
		rows := (panels + cols - 1) / cols
		if !o.widthSet {
			width = "7in"
		}
		if !o.heightSet {
			height = fmt.Sprintf("%.1fin", 2.4*float64(rows)+0.3)
		}
	}
	w, err := vg.ParseLength(width)
	if err != nil || w <= 0 {
		return plots.Size{}, usageErrorf("invalid value %q for --width: want a length such as 3.5in or 9cm", width)
	}
	h, err := vg.ParseLength(height)
	if err != nil || h <= 0 {
		return plots.Size{}, usageErrorf("invalid value %q for --height: want a length such as 2.6in or 6cm", height)
	}
	if o.dpi <= 0 || o.dpi > 2400 {
		return plots.Size{}, usageErrorf("invalid value %d for --dpi: want 1 to 2400", o.dpi)
	}
	return plots.Size{Width: w, Height: h, DPI: o.dpi}, nil
}

func plotRun(o *plotOptions) error {
	var fig plots.Figure
	panels := 1
	if o.kind == "rounds" {
		res, err := readResult(o.file, o.point)
		if err != nil {
			return err
		}
		if fig, err = plots.Rounds(res, o.y, o.title); err != nil {
			return fmt.Errorf("%s: %w", o.file, err)
		}
	} else {
		t, err := readTable(o)
		if err != nil {
			return fmt.Errorf("%s: %w", o.file, err)
		}
		if o.facet != "" {
			if panels, err = t.Distinct(o.facet); err != nil {
				return fmt.Errorf("%s: --facet: %w", o.file, err)
			}
		}
		if fig, err = tablePlot(o, t); err != nil {
			return fmt.Errorf("%s: %w", o.file, err)
		}
	}
	size, err := o.size(panels)
	if err != nil {
		return err
	}
	if err := plots.Save(o.output, fig, size); err != nil {
		return err
	}
	fmt.Fprintf(o.err, "wrote %s\n", o.output)
	return nil
}

// readTable reads the CSV of o.file, names its sweep axes (from the
// sweep.json beside it, else every column that is not a result metric)
// and applies --where.
func readTable(o *plotOptions) (*plots.Table, error) {
	f, err := os.Open(o.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := plots.ReadCSV(f)
	if err != nil {
		return nil, err
	}
	t.Axes, t.Repeats = tableAxes(o, t.Columns)
	return t.Where(o.where)
}

// tableAxes returns the axis columns of a result table and those of them
// that repeat a point: from the manifest of the sweep's output directory
// when the CSV sits in one, else every column that is neither "point" nor
// a result metric, and "seed", the repeat axis.
func tableAxes(o *plotOptions, columns []string) (axes, repeats []string) {
	m, err := sweep.ReadManifest(filepath.Dir(o.file))
	if err == nil {
		for _, a := range m.Axes {
			if slices.Contains(columns, a.Column) {
				axes = append(axes, a.Column)
				if a.Kind == "repeat" {
					repeats = append(repeats, a.Column)
				}
			}
		}
		return axes, repeats
	}
	if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(o.err, "warning: %v; taking every column that is not a result metric as a sweep axis\n", err)
	}
	metric := map[string]bool{"point": true}
	for _, c := range append(sweep.Columns(nil), sweep.FleetColumns(nil)...) {
		metric[c.Name] = true
	}
	for _, c := range columns {
		// seed is a result column too; whatever made it vary, rows that
		// differ in it alone repeat a point.
		if !metric[c] || c == "seed" {
			axes = append(axes, c)
		}
		if c == "seed" {
			repeats = append(repeats, c)
		}
	}
	return axes, repeats
}

// tablePlot draws a line, cdf or heatmap figure from a table.
func tablePlot(o *plotOptions, t *plots.Table) (plots.Figure, error) {
	switch o.kind {
	case "cdf":
		return plots.CDF(t, plots.CDFOptions{Y: o.y, By: o.by, Facet: o.facet, LogX: o.logX, Title: o.title})
	case "heatmap":
		return plots.Heatmap(t, plots.HeatmapOptions{X: o.x, Y: o.y, Z: o.z, Facet: o.facet, Title: o.title})
	}
	return plots.Line(t, plots.LineOptions{X: o.x, Y: o.y, By: o.by, Facet: o.facet, Errors: o.errors, LogX: o.logX, LogY: o.logY, Title: o.title})
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
			if row.Result.RoundsDetail == nil {
				return nil, fmt.Errorf("%s:%d: point %d has no rounds_detail: the sweep ran without --detail (run it with --detail to keep each point's rounds)", path, line, point)
			}
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
