// Package plots builds figures from migsim results with gonum/plot: line
// plots over sweep axes, CDFs, heat maps and per-round bar charts, as PNG,
// SVG and PDF.
//
// Nothing lives here yet: figures arrive with the sweeps issue.
package plots
