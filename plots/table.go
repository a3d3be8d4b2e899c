package plots

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/migsim/migsim/internal/editdist"
)

// Table is a result table as read from CSV: a header and rows of text,
// as `migsim sweep` writes results.csv. An empty cell is a missing value
// (a metric that does not apply to that run), never 0.
type Table struct {
	// Columns are the header's names.
	Columns []string
	// Rows hold one value per column.
	Rows [][]string
	// Axes name the columns of the sweep's axes: the parameters that
	// differ between rows. Figures that average rows ([Line], [Heatmap])
	// refuse to average rows that differ in an axis that is not on the
	// figure (--x, --y, --by, --facet) and not in Repeats. Nil Axes name
	// no axis, and no such check is made.
	Axes []string
	// Repeats name the axes that only repeat a point (the repeat axis,
	// seed): rows that differ in them alone are averaged, with error bars.
	Repeats []string
}

// ReadCSV reads a table with a header row from r.
func ReadCSV(r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("empty table: no header")
	}
	return &Table{Columns: recs[0], Rows: recs[1:]}, nil
}

// Column returns the index of the column name refers to: the column of
// that name, or of that name and a unit suffix ("model.downtime_limit"
// finds "model.downtime_limit_s"); else the one column whose last dotted
// segment is name, with or without its unit suffix (so "dirty_rate"
// finds "workload.generator.dirty_rate" and "bandwidth" finds
// "network.bandwidth_bps", before the metric "bandwidth_bps", which its
// full name reaches). A name that matches several columns is an error
// listing them.
func (t *Table) Column(name string) (int, error) {
	if i := slices.Index(t.Columns, name); i >= 0 {
		return i, nil
	}
	if strings.Contains(name, ".") {
		if i := slices.IndexFunc(t.Columns, func(c string) bool { return stripUnit(c) == name }); i >= 0 {
			return i, nil
		}
	}
	var hits []int
	for i, c := range t.Columns {
		last := c[strings.LastIndexByte(c, '.')+1:]
		if last == name || stripUnit(last) == name {
			hits = append(hits, i)
		}
	}
	if len(hits) > 1 {
		// Prefer a sweep axis (a dotted scenario key) to a metric: a
		// metric is reached by its full name anyway.
		var axes []int
		for _, i := range hits {
			if strings.Contains(t.Columns[i], ".") {
				axes = append(axes, i)
			}
		}
		if len(axes) == 1 {
			return axes[0], nil
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		msg := fmt.Sprintf("no column %q", name)
		if s := closest(name, t.Columns); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return 0, errors.New(msg)
	}
	var names []string
	for _, i := range hits {
		names = append(names, t.Columns[i])
	}
	return 0, fmt.Errorf("column %q is ambiguous: it matches %s; give the full name", name, strings.Join(names, ", "))
}

// Where returns the rows whose cells pass every filter. A filter is
// "column=value", or with !=, <, <=, > or >= for the comparison. Values
// compare as text ("model=precopy") or as numbers, in the column's unit
// as the CSV holds it ("bandwidth=1e10") or with a unit the scenario
// files accept, converted ("bandwidth=10Gbit", "memory>=4GiB",
// "downtime_s<300ms"). Rows with an empty cell never pass a comparison.
// A filter that leaves no row is an error listing the values there are.
func (t *Table) Where(filters []string) (*Table, error) {
	out := &Table{Columns: t.Columns, Rows: t.Rows, Axes: t.Axes, Repeats: t.Repeats}
	for _, f := range filters {
		key, op, val, ok := splitFilter(f)
		if !ok {
			return nil, fmt.Errorf("filter %q: want column=value (or !=, <, <=, >, >=)", f)
		}
		c, err := t.Column(key)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f, err)
		}
		num, isNum, err := parseValue(t.Columns[c], val)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f, err)
		}
		if !isNum && op != "=" && op != "!=" {
			return nil, fmt.Errorf("filter %q: %s compares numbers, and %q is not one", f, op, val)
		}
		var rows [][]string
		for _, r := range out.Rows {
			if keep(r[c], op, val, num, isNum) {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			shown := val
			if isNum {
				shown = formatValue(t.Columns[c], strconv.FormatFloat(num, 'g', -1, 64))
			}
			return nil, fmt.Errorf("filter %q: no row has %s %s %s (it holds %s)", f, t.Columns[c], op, shown, valueList(t, out.Rows, c, 8))
		}
		out.Rows = rows
	}
	return out, nil
}

// splitFilter splits "key<=value" at its first operator.
func splitFilter(f string) (key, op, val string, ok bool) {
	i := strings.IndexAny(f, "!<>=")
	if i <= 0 {
		return "", "", "", false
	}
	op = f[i : i+1]
	if i+1 < len(f) && f[i+1] == '=' && op != "=" {
		op = f[i : i+2]
	}
	if op == "!" {
		return "", "", "", false
	}
	return strings.TrimSpace(f[:i]), op, strings.TrimSpace(f[i+len(op):]), true
}

// keep reports whether cell passes "op val" (num when val is a number).
func keep(cell, op, val string, num float64, isNum bool) bool {
	if op == "=" || op == "!=" {
		eq := cell == val
		if !eq && isNum {
			if x, err := strconv.ParseFloat(cell, 64); err == nil && sameNumber(x, num) {
				eq = true
			}
		}
		return eq == (op == "=")
	}
	x, err := strconv.ParseFloat(cell, 64)
	if err != nil || math.IsNaN(x) {
		return false
	}
	switch op {
	case "<":
		return x < num && !sameNumber(x, num)
	case "<=":
		return x <= num || sameNumber(x, num)
	case ">":
		return x > num && !sameNumber(x, num)
	}
	return x >= num || sameNumber(x, num)
}

// valueList describes the distinct values of column c among rows, with
// their units, at most limit of them.
func valueList(t *Table, rows [][]string, c, limit int) string {
	vals := distinctCells(rows, c)
	var parts []string
	for i, v := range vals {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(vals)-limit))
			break
		}
		if v == "" {
			v = "(empty)"
		} else {
			v = formatValue(t.Columns[c], v)
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, ", ")
}

// distinctCells returns the distinct cells of column c in rows: numbers
// in ascending order, then text in order of first appearance.
func distinctCells(rows [][]string, c int) []string {
	seen := map[string]bool{}
	var nums, texts []string
	for _, r := range rows {
		v := r[c]
		if seen[v] {
			continue
		}
		seen[v] = true
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			nums = append(nums, v)
		} else {
			texts = append(texts, v)
		}
	}
	slices.SortStableFunc(nums, func(a, b string) int {
		x, _ := strconv.ParseFloat(a, 64)
		y, _ := strconv.ParseFloat(b, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return append(nums, texts...)
}

// missing is the value of an empty cell: a metric that does not apply to
// the run (NaN, never drawn or averaged).
var missing = math.NaN()

// number parses a cell as a number; true and false are 1 and 0, so that
// the mean of a boolean column is a fraction, and an empty cell (or NaN)
// is missing.
func number(s string) (float64, error) {
	switch s {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	case "":
		return missing, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && math.IsInf(v, 0) {
		return 0, errors.New("infinite")
	}
	return v, err
}

// floats returns column c of every row as numbers, NaN for an empty cell,
// or an error naming the first cell that is not a number.
func (t *Table) floats(c int) ([]float64, error) {
	out := make([]float64, len(t.Rows))
	for i, r := range t.Rows {
		v, err := number(r[c])
		if err != nil {
			return nil, fmt.Errorf("column %s, row %d: %q is not a number", t.Columns[c], i+1, r[c])
		}
		out[i] = v
	}
	return out, nil
}

// Completion: the outcome columns of a result table.
const (
	completedColumn  = "completed"
	stopReasonColumn = "stop_reason"
)

// stopReasonsIncomplete are the stop reasons of runs that did not end
// with the guest on the destination: their metrics are the state when
// the simulation gave up, not a migration's cost.
var stopReasonsIncomplete = []string{"max_time", "no_progress"}

// failures returns, for each row, why its run did not complete ("" if
// it did): its stop_reason when that is max_time or no_progress, else
// "not completed" when its completed cell is false. A table without
// either column has every run complete.
func (t *Table) failures() []string {
	cc, sc := slices.Index(t.Columns, completedColumn), slices.Index(t.Columns, stopReasonColumn)
	out := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		switch {
		case sc >= 0 && slices.Contains(stopReasonsIncomplete, r[sc]):
			out[i] = r[sc]
		case cc >= 0 && r[cc] == "false":
			out[i] = "not completed"
			if sc >= 0 && r[sc] != "" {
				out[i] = r[sc]
			}
		}
	}
	return out
}

// groups returns the distinct values of column c (numbers in ascending
// order, then text in order of first appearance) and, for each row, the
// index of its group. c < 0 is one group.
func (t *Table) groups(c int) (names []string, of []int) {
	of = make([]int, len(t.Rows))
	if c < 0 {
		return []string{""}, of
	}
	names = distinctCells(t.Rows, c)
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	for i, r := range t.Rows {
		of[i] = idx[r[c]]
	}
	return names, of
}

// closest returns the column nearest to name by edit distance, or "".
func closest(name string, cols []string) string {
	best, bestD := "", len(name)/2+1
	for _, c := range cols {
		last := c[strings.LastIndexByte(c, '.')+1:]
		if d := editdist.Distance(name, last); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distinct returns the number of distinct values of the column name
// refers to (see [Table.Column]): the panels --facet would draw.
func (t *Table) Distinct(name string) (int, error) {
	c, err := t.Column(name)
	if err != nil {
		return 0, err
	}
	return len(distinctCells(t.Rows, c)), nil
}
