package plots

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// role is a column a figure shows, and the flag that put it there.
type role struct {
	flag string
	col  int
}

// checkPooling refuses to pool rows that are different scenarios: rows
// that share the cells of every column in shown (one point of a line, one
// cell of a heat map, in one panel) must not differ in an axis of the
// table ([Table.Axes]) other than the shown columns and the repeat axes.
// The error names each such column, where it differs and how to choose:
// --where to keep one value, --by or --facet to show them all.
func (t *Table) checkPooling(shown []role) error {
	if len(t.Axes) == 0 {
		return nil
	}
	on := map[int]bool{}
	for _, r := range shown {
		on[r.col] = true
	}
	var check []int
	for _, a := range t.Axes {
		c := slices.Index(t.Columns, a)
		if c < 0 || on[c] || slices.Contains(t.Repeats, a) {
			continue
		}
		check = append(check, c)
	}
	if len(check) == 0 {
		return nil
	}
	type group struct {
		first  int               // a row of the group
		values []map[string]bool // per checked column, the cells seen
	}
	groups := map[string]*group{}
	var order []string
	var key strings.Builder
	for i, r := range t.Rows {
		key.Reset()
		for _, s := range shown {
			key.WriteString(strconv.Quote(r[s.col]))
			key.WriteByte(0)
		}
		g, ok := groups[key.String()]
		if !ok {
			g = &group{first: i, values: make([]map[string]bool, len(check))}
			for j := range g.values {
				g.values[j] = map[string]bool{}
			}
			groups[key.String()] = g
			order = append(order, key.String())
		}
		for j, c := range check {
			g.values[j][r[c]] = true
		}
	}
	for _, k := range order {
		g := groups[k]
		var differ []int
		for j, c := range check {
			if len(g.values[j]) > 1 {
				differ = append(differ, c)
			}
		}
		if len(differ) == 0 {
			continue
		}
		return t.poolingError(shown, g.first, differ)
	}
	return nil
}

// poolingError explains a refusal of checkPooling: the point at row
// first, the columns that differ there and how to choose.
func (t *Table) poolingError(shown []role, first int, differ []int) error {
	var names, at []string
	for _, c := range differ {
		names = append(names, fmt.Sprintf("%s (%s)", t.Columns[c], valueList(t, t.rowsLike(shown, first), c, 6)))
	}
	for _, s := range shown {
		at = append(at, fmt.Sprintf("%s = %s", t.Columns[s.col], formatValue(t.Columns[s.col], t.Rows[first][s.col])))
	}
	c := differ[0]
	short := t.shortName(c)
	example := whereValue(t.Columns[c], distinctCells(t.rowsLike(shown, first), c)[0])
	var b strings.Builder
	fmt.Fprintf(&b, "rows that would be averaged into one point differ in %s", strings.Join(names, " and "))
	fmt.Fprintf(&b, ", which is not on the figure (%s) nor a repeat axis", flagList(shown))
	if len(at) > 0 {
		fmt.Fprintf(&b, "; at %s", strings.Join(at, ", "))
	}
	fmt.Fprintf(&b, ". Averaging them would mix different scenarios: keep one value with --where %s=%s, or show each with --by %s or --facet %s",
		short, example, short, short)
	return fmt.Errorf("%s", b.String())
}

// rowsLike returns the rows that share row first's cells in the shown
// columns.
func (t *Table) rowsLike(shown []role, first int) [][]string {
	var out [][]string
	for _, r := range t.Rows {
		same := true
		for _, s := range shown {
			if r[s.col] != t.Rows[first][s.col] {
				same = false
				break
			}
		}
		if same {
			out = append(out, r)
		}
	}
	return out
}

// flagList names the flags of the shown columns: "--x dirty_rate, --by model".
func flagList(shown []role) string {
	var parts []string
	for _, s := range shown {
		parts = append(parts, s.flag)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// shortName returns the shortest name [Table.Column] resolves to column
// c: its last dotted part without the unit suffix, or with it, or the
// full name.
func (t *Table) shortName(c int) string {
	full := t.Columns[c]
	last := full[strings.LastIndexByte(full, '.')+1:]
	for _, n := range []string{stripUnit(last), last} {
		// A short last part (name, kind, lock) reads better with its
		// section: model.name.
		if len(n) < 6 {
			continue
		}
		if got, err := t.Column(n); err == nil && got == c {
			return n
		}
	}
	return full
}

// whereValue spells a cell as a --where value with its unit and no
// space ("10Gbit", "4GiB", "300ms"), when that reads back as the same
// number; else the cell as it is.
func whereValue(column, cell string) string {
	f := strings.ReplaceAll(formatValue(column, cell), " ", "")
	if f == cell || columnUnit(column) == unitPagesPerS || columnUnit(column) == unitPercent {
		return cell
	}
	want, err := strconv.ParseFloat(cell, 64)
	if err != nil {
		return cell
	}
	if got, ok, err := parseValue(column, f); err == nil && ok && sameNumber(got, want) {
		return f
	}
	return cell
}
