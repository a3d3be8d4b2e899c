package plots

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// tally counts what a figure drew and left out, for its caption.
type tally struct {
	// nMin and nMax bound the runs averaged into one drawn point or cell.
	nMin, nMax int
	// points is the number of drawn points or cells.
	points int
	// failed counts the runs that did not complete, by reason.
	failed map[string]int
	// missing counts rows whose metric cell is empty (not applicable).
	missing int
	// missingX counts rows whose position cell (--x, --y) is empty.
	missingX int
	// empty counts heat map cells without a row.
	empty int
}

func newTally() *tally { return &tally{failed: map[string]int{}} }

// point records a drawn point averaged over n runs.
func (t *tally) point(n int) {
	if t.points == 0 || n < t.nMin {
		t.nMin = n
	}
	t.nMax = max(t.nMax, n)
	t.points++
}

func (t *tally) failedTotal() int {
	n := 0
	for _, v := range t.failed {
		n += v
	}
	return n
}

// failedText is "9 runs (max_time 6, no_progress 3)".
func (t *tally) failedText() string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(t.failed)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, t.failed[r]))
	}
	return fmt.Sprintf("%s (%s)", plural(t.failedTotal(), "run"), strings.Join(parts, ", "))
}

// nText is "n = 3 runs per point" or "n = 2–3 runs per point".
func (t *tally) nText(per string) string {
	if t.nMin == t.nMax {
		return fmt.Sprintf("n = %d runs per %s", t.nMin, per)
	}
	return fmt.Sprintf("n = %d–%d runs per %s", t.nMin, t.nMax, per)
}

// plural is "1 run" or "3 runs".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// repeatText names the repeat columns that differ among rows, for "over
// seed": the reader learns what the n runs of a point differ in.
func repeatText(t *Table) string {
	var names []string
	for _, r := range t.Repeats {
		c := slices.Index(t.Columns, r)
		if c >= 0 && len(distinctCells(t.Rows, c)) > 1 {
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (repeats over " + strings.Join(names, ", ") + ")"
}
