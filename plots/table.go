package plots

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/migsim/migsim/internal/editdist"
)

// Table is a result table as read from CSV: a header and rows of text,
// as `migsim sweep` writes results.csv.
type Table struct {
	// Columns are the header's names.
	Columns []string
	// Rows hold one value per column.
	Rows [][]string
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
// that name; else the one column whose last dotted segment is name, with
// or without its unit suffix (so "dirty_rate" finds
// "workload.generator.dirty_rate" and "bandwidth" finds
// "network.bandwidth_bps", before the metric "bandwidth_bps", which its
// full name reaches). A name that matches several columns is an error
// listing them.
func (t *Table) Column(name string) (int, error) {
	if i := slices.Index(t.Columns, name); i >= 0 {
		return i, nil
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

// Where returns the rows whose column key holds value: equal text, or
// equal numbers ("1e9" matches "1000000000"). Each filter is "key=value".
func (t *Table) Where(filters []string) (*Table, error) {
	out := &Table{Columns: t.Columns, Rows: t.Rows}
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("filter %q: want column=value", f)
		}
		c, err := t.Column(strings.TrimSpace(key))
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", f, err)
		}
		val = strings.TrimSpace(val)
		num, numErr := strconv.ParseFloat(val, 64)
		var rows [][]string
		for _, r := range out.Rows {
			cell := r[c]
			if cell == val {
				rows = append(rows, r)
				continue
			}
			if numErr == nil {
				if x, err := strconv.ParseFloat(cell, 64); err == nil && x == num {
					rows = append(rows, r)
				}
			}
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("filter %q: no row has %s = %s", f, t.Columns[c], val)
		}
		out.Rows = rows
	}
	return out, nil
}

// number parses a cell as a number; true and false are 1 and 0, so that
// the mean of a boolean column is a fraction.
func number(s string) (float64, error) {
	switch s {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

// floats returns column c of every row as numbers, or an error naming the
// first cell that is not one.
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

// groups returns the distinct values of column c in order of first
// appearance and, for each row, the index of its group. c < 0 is one
// group.
func (t *Table) groups(c int) (names []string, of []int) {
	of = make([]int, len(t.Rows))
	if c < 0 {
		return []string{""}, of
	}
	idx := map[string]int{}
	for i, r := range t.Rows {
		g, ok := idx[r[c]]
		if !ok {
			g = len(names)
			idx[r[c]] = g
			names = append(names, r[c])
		}
		of[i] = g
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
