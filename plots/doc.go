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
//     line (repeats over seeds, other axes) with error bars: the 95 %
//     confidence interval of the mean by default (Student's t), or ± one
//     standard deviation.
//   - [CDF]: the empirical distribution of a metric over the rows, one
//     step curve per series.
//   - [Heatmap]: the mean of a metric over the grid of two axes' values,
//     one cell per pair whatever the spacing of the values, with the
//     value written in each cell of small grids and a colour bar; a
//     boolean metric (converged) becomes the fraction true, so
//     `--z converged` maps the convergence region.
//   - [Rounds]: one bar per pass of one run (bytes, pages, duration, ...),
//     the final pass (stop-and-copy or post-copy) in a second colour.
//
// Table figures read a [Table], the CSV that `migsim sweep` writes;
// columns are found by name or by a unique last part of it
// ([Table.Column]). Axis labels come from the column names and their unit
// suffixes (_s, _bytes, _bps, _pct), scaled to a readable unit: bytes to
// KiB…TiB, bits/s to kbit/s…Gbit/s, seconds below 1 to ms.
//
// Data reach gonum/plot through plotter.XYer (and plotter.YErrorer,
// plotter.Valuer, plotter.GridXYZ) adapters over the aggregated values,
// so plotter.CopyXYs rejects NaN and infinities before anything is drawn.
//
// # Files
//
// [Save] picks the format from the file's extension; [Write] takes it
// by name. A PNG is Width × DPI by Height × DPI pixels; SVG and PDF pages
// are Width × Height points.
package plots
