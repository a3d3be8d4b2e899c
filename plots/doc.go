// Package plots draws figures from migsim results with gonum/plot, as
// PNG, SVG or PDF, with paper-like defaults: serif text at 8–10 pt, a
// light grid, the colour-blind-safe Okabe–Ito palette with a marker and a
// dash pattern per series, axis labels with units, a legend, and a
// one-column size (3.5 × 2.6 in, 300 dpi for PNG).
//
// # Figures
//
//   - [Line]: a metric against a sweep axis, one line per value of a
//     column (model, say), the mean over the rows that share a point of a
//     line (repeats over seeds) with error bars: the 95 % confidence
//     interval of the mean by default (Student's t), or ± one standard
//     deviation.
//   - [CDF]: the empirical distribution of a metric over the runs, one
//     step curve per series.
//   - [Heatmap]: the mean of a metric over the grid of two axes' values,
//     one cell per pair whatever the spacing of the values, with the
//     value written in each cell of small grids and a colour bar; a
//     boolean metric (converged) becomes the fraction true, on a colour
//     scale fixed to [0, 1], so `--z converged` maps the convergence
//     region.
//   - [Rounds]: one bar per pass of one run (bytes, pages, duration, ...),
//     the final pass (stop-and-copy or post-copy) in a second colour.
//
// Line, CDF and Heatmap take a Facet column: one panel per value (small
// multiples with shared axes, one legend and one colour bar).
//
// # Honest figures
//
// The table figures do not let a reader mistake what they show:
//
//   - Rows are averaged only over repeats. Rows that share a point of a
//     line (or a heat map cell) and differ in an axis of the sweep
//     ([Table.Axes]) that is not on the figure and not a repeat axis
//     ([Table.Repeats], seed) are an error naming the column, its values
//     and the choices: --where one value, --by or --facet all of them.
//   - Runs that did not complete (completed false, or stop_reason
//     max_time or no_progress) are no measurements: lines and heat maps
//     leave them out of the means and mark them ×, a line does not join
//     points across an x where every run failed, and a CDF counts them
//     as never arriving, so its curve ends at the share that completed.
//     A boolean outcome (converged) counts every run.
//   - An empty cell is a missing value (the metric does not apply to that
//     run), never 0.
//   - Every table figure has a caption: what a point or cell averages (n
//     runs, over which repeat axis, which error bars) and how many runs
//     and cells were left out, and why.
//   - Legend entries, panel titles and messages give values with their
//     units ("10 Gbit", "4 GiB", "300 ms"), and [Table.Where] takes them
//     ("bandwidth=10Gbit", "memory>=4GiB").
//   - Linear axes are labelled at round numbers: multiples of 1, 2 or 5
//     times a power of ten (rarely 2.5). A log axis over zero or less is
//     an error naming the column, not a silent drop.
//
// Table figures read a [Table], the CSV that `migsim sweep` writes;
// columns are found by name or by a unique last part of it
// ([Table.Column]). Axis labels come from the column names and their unit
// suffixes (_s, _bytes, _bps, _pct, _pages_per_s), scaled to a readable
// unit: bytes to KiB…TiB, bits/s to kbit/s…Gbit/s, seconds below 1 to ms.
//
// Data reach gonum/plot through plotter.XYer (and plotter.YErrorer,
// plotter.Valuer, plotter.GridXYZ) adapters over the aggregated values,
// so plotter.CopyXYs rejects NaN and infinities before anything is drawn.
// Tests compare every kind of figure with golden images
// (testdata/*_golden.png) pixel by pixel with gonum/plot's cmpimg, so
// that a wrong series fails a test.
//
// # Files
//
// [Save] picks the format from the file's extension; [Write] takes it
// by name. A PNG is Width × DPI by Height × DPI pixels; SVG and PDF pages
// are Width × Height points.
package plots
