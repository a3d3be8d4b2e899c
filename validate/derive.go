package validate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"
)

// ReadHistory reads a history file (JSON lines of [HistoryEntry]); an
// error names the file and the line.
func ReadHistory(path string) ([]HistoryEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []HistoryEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e HistoryEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// DerivedThreshold is a gate threshold set against the errors its suite's
// recorded runs measured for it ([HistoryEntry.Checks]): what it is now,
// the largest median and worst error any of those runs saw, and bounds
// with margin over them.
type DerivedThreshold struct {
	// Current is the suite's threshold.
	Current Threshold `json:"current"`
	// Runs is the number of recorded runs that measured it; From and To
	// the dates of the first and last.
	Runs     int       `json:"runs"`
	From, To time.Time `json:"-"`
	// SeenMedian and SeenWorst are the largest median and worst |relative
	// error| of those runs; null without runs.
	SeenMedian *float64 `json:"seen_median_abs_rel_err"`
	SeenWorst  *float64 `json:"seen_worst_abs_rel_err"`
	// Suggested is Current with each bound it sets (a bound of 0 is not
	// set) replaced by margin × the largest error seen, rounded up
	// ([NiceBound]); Current when no run measured it.
	Suggested Threshold `json:"suggested"`
	// Tighter and Looser report whether Suggested moves a bound down or
	// up; Crossed whether a recorded run crossed Current.
	Tighter bool `json:"tighter"`
	Looser  bool `json:"looser"`
	Crossed bool `json:"crossed"`
}

// DeriveThresholds sets each threshold of gate (a suite's, every
// calibration) against the history entries of suite recorded since since
// (the zero time: all) that measured it: runs recorded before
// [HistoryEntry.Checks] existed carry no per-threshold errors and are not
// counted. margin is at least 1.
func DeriveThresholds(history []HistoryEntry, suite string, since time.Time, gate []Threshold, margin float64) []DerivedThreshold {
	out := make([]DerivedThreshold, 0, len(gate))
	for _, t := range gate {
		d := DerivedThreshold{Current: t, Suggested: t}
		var med, worst float64
		for _, e := range history {
			if e.Suite != suite || e.Date.Before(since) {
				continue
			}
			for _, c := range e.Checks {
				if c.Threshold.key() != t.key() || c.Status == CheckMissing || c.MedianAbsErr == nil || c.WorstAbsErr == nil {
					continue
				}
				if d.Runs == 0 || e.Date.Before(d.From) {
					d.From = e.Date
				}
				if e.Date.After(d.To) {
					d.To = e.Date
				}
				d.Runs++
				med, worst = math.Max(med, *c.MedianAbsErr), math.Max(worst, *c.WorstAbsErr)
			}
		}
		if d.Runs == 0 {
			out = append(out, d)
			continue
		}
		d.SeenMedian, d.SeenWorst = &med, &worst
		d.Crossed = (t.Median > 0 && med > t.Median) || (t.Worst > 0 && worst > t.Worst)
		if t.Median > 0 {
			d.Suggested.Median = NiceBound(margin * med)
		}
		if t.Worst > 0 {
			d.Suggested.Worst = NiceBound(margin * worst)
		}
		d.Tighter = d.Suggested.Median < t.Median || d.Suggested.Worst < t.Worst
		d.Looser = d.Suggested.Median > t.Median || d.Suggested.Worst > t.Worst
		out = append(out, d)
	}
	return out
}

// key identifies a threshold by what it covers, not its bounds.
func (t Threshold) key() string {
	return t.Metric + "\x00" + t.Model + "\x00" + string(t.Shaping) + "\x00" + t.Calibration
}

// NiceBound rounds an error bound x (a fraction) up to a round value: a
// step of 0.01 below 1 (so never below 0.01), 0.05 below 5, else 0.1.
func NiceBound(x float64) float64 {
	per := 10.0 // steps per unit: dividing by it gives the bound as the
	// literal reads (35/100 is 0.35; 35 × 0.01 is not, and looks looser)
	switch {
	case x < 1:
		per = 100
	case x < 5:
		per = 20
	}
	n := math.Ceil(x*per - 1e-9)
	return math.Max(n, 1) / per
}
