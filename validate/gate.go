package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/migsim/migsim/models"
)

// Threshold bounds the simulator's error on one metric of a suite: the
// median and the worst |relative error| over the suite's cases of one
// model. A zero bound is not checked. In a suite file:
//
//	gate:
//	  - {metric: total_time_s, model: precopy, median: 0.15, worst: 0.40}
type Threshold struct {
	// Metric is a [MetricError] name, e.g. "downtime_s".
	Metric string `yaml:"metric" json:"metric"`
	// Model restricts the threshold to comparisons of this model; "" means
	// every model.
	Model string `yaml:"model" json:"model,omitempty"`
	// Shaping restricts the threshold to runs of this shaping ("qemu" or
	// "netns", see [Shaping]); "" means every run.
	Shaping Shaping `yaml:"shaping" json:"shaping,omitempty"`
	// Calibration makes the threshold one for runs simulated under this
	// calibration profile (e.g. "local-tcg"); "" is for uncalibrated runs.
	// See [ThresholdsFor].
	Calibration string `yaml:"calibration" json:"calibration,omitempty"`
	// Median and Worst are the largest allowed median and worst absolute
	// relative error, as fractions (0.15 is 15 %).
	Median float64 `yaml:"median" json:"median"`
	Worst  float64 `yaml:"worst" json:"worst"`
}

// Violation is a threshold crossed.
type Violation struct {
	Threshold Threshold `json:"threshold"`
	// Stat is "median" or "worst"; Got the measured error; Case the worst
	// case (for "worst").
	Stat string  `json:"stat"`
	Got  float64 `json:"got"`
	Case string  `json:"case,omitempty"`
}

func (v Violation) String() string {
	limit := v.Threshold.Median
	if v.Stat == "worst" {
		limit = v.Threshold.Worst
	}
	model := v.Threshold.Model
	if model == "" {
		model = "all models"
	}
	if v.Threshold.Shaping != "" {
		model += ", shaping " + string(v.Threshold.Shaping)
	}
	if v.Threshold.Calibration != "" {
		model += ", calibration " + v.Threshold.Calibration
	}
	s := fmt.Sprintf("%s (%s): %s |error| %.1f%% > %.1f%%", v.Threshold.Metric, model, v.Stat, 100*v.Got, 100*limit)
	if v.Case != "" {
		s += " in case " + v.Case
	}
	return s
}

// checkThresholds validates a suite's gate: known metrics, no negative
// bound, at least one bound per entry.
func checkThresholds(ths []Threshold) error {
	known := map[string]bool{}
	var none models.Result
	for _, m := range slices.Concat(compareMetrics(RealMetrics{}, &none), comparePostcopy(RealMetrics{}, &none), compareXbzrle(RealMetrics{}, &none)) {
		known[m.Name] = true
	}
	for i, t := range ths {
		switch {
		case !known[t.Metric]:
			return fmt.Errorf("gate[%d].metric: unknown metric %q", i, t.Metric)
		case t.Median < 0 || t.Worst < 0 || math.IsNaN(t.Median) || math.IsNaN(t.Worst):
			return fmt.Errorf("gate[%d]: median and worst must be non-negative fractions", i)
		case t.Median == 0 && t.Worst == 0:
			return fmt.Errorf("gate[%d]: %s has neither median nor worst", i, t.Metric)
		}
		if t.Shaping != "" {
			if _, err := ParseShaping(string(t.Shaping)); err != nil {
				return fmt.Errorf("gate[%d].%w", i, err)
			}
		}
	}
	return nil
}

// ThresholdsFor returns the thresholds of ths for runs simulated under the
// calibration profile named calibration ("" for none): those that name it
// or, when none does, the uncalibrated ones, so that a profile without
// thresholds of its own is held to the uncalibrated simulator's.
func ThresholdsFor(ths []Threshold, calibration string) []Threshold {
	pick := func(name string) []Threshold {
		var out []Threshold
		for _, t := range ths {
			if t.Calibration == name {
				out = append(out, t)
			}
		}
		return out
	}
	if out := pick(calibration); len(out) > 0 || calibration == "" {
		return out
	}
	return pick("")
}

// Calibration returns the calibration profile the simulator used for r's
// comparisons ("" for none).
func (r *SuiteResult) Calibration() string {
	for _, c := range r.Comparisons {
		if c.Sim != nil && c.Sim.Calibration != "" {
			return c.Sim.Calibration
		}
	}
	return ""
}

// Gate checks r against ths and returns the thresholds crossed, in the
// order of ths, median before worst. A threshold with no matching
// comparison is crossed (Stat "missing"): a gate must not pass on nothing.
func (r *SuiteResult) Gate(ths []Threshold) []Violation {
	var out []Violation
	for _, t := range ths {
		var errs []float64
		worst, worstCase := -1.0, ""
		for _, c := range r.Comparisons {
			if t.Model != "" && c.Model != t.Model {
				continue
			}
			if t.Shaping != "" && c.shaping() != t.Shaping {
				continue
			}
			if t.Calibration != "" && (c.Sim == nil || c.Sim.Calibration != t.Calibration) {
				continue
			}
			for _, m := range c.Metrics {
				if m.Name != t.Metric {
					continue
				}
				e := math.Abs(m.RelErr)
				errs = append(errs, e)
				if e > worst {
					worst, worstCase = e, c.Scenario
				}
			}
		}
		if len(errs) == 0 {
			out = append(out, Violation{Threshold: t, Stat: "missing", Got: math.NaN()})
			continue
		}
		if med := median(errs); t.Median > 0 && med > t.Median {
			out = append(out, Violation{Threshold: t, Stat: "median", Got: med})
		}
		if t.Worst > 0 && worst > t.Worst {
			out = append(out, Violation{Threshold: t, Stat: "worst", Got: worst, Case: worstCase})
		}
	}
	return out
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ReadSuiteResult reads a suite's results as written by
// "migsim validate suite --json".
func ReadSuiteResult(path string) (*SuiteResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r SuiteResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Comparisons) == 0 {
		return nil, fmt.Errorf("%s: no comparisons (not a suite result?)", path)
	}
	for i, c := range r.Comparisons {
		if c == nil || len(c.Metrics) == 0 {
			return nil, fmt.Errorf("%s: comparisons[%d]: no metrics", path, i)
		}
	}
	return &r, nil
}

// HistoryEntry is one line of a history file (JSON lines): a recorded
// suite run and its error summary, so that regressions show over time.
type HistoryEntry struct {
	// Date is when the entry was recorded (UTC, RFC 3339).
	Date time.Time `json:"date"`
	// Commit is the migsim commit measured ("" if unknown).
	Commit string `json:"commit"`
	Suite  string `json:"suite"`
	// Calibration names the profile the simulator used ("" for defaults).
	Calibration string `json:"calibration,omitempty"`
	// Host describes the machine and its state, e.g. "TCG 2 cores, load 3.0".
	Host string `json:"host,omitempty"`
	// Cases and Failed count the cases that ran and that failed.
	Cases  int             `json:"cases"`
	Failed int             `json:"failed"`
	Errors []MetricSummary `json:"errors"`
	// Gate lists the thresholds crossed, as text ("" entries none).
	Gate []string `json:"gate,omitempty"`
}

// AppendHistory appends e as one JSON line to the file at path, creating
// it if needed.
func AppendHistory(path string, e HistoryEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// WriteGate prints the gate's verdict: each threshold crossed, or "gate
// passed" with the number of thresholds.
func WriteGate(w io.Writer, ths []Threshold, vs []Violation) error {
	if len(vs) == 0 {
		_, err := fmt.Fprintf(w, "gate passed: %d thresholds\n", len(ths))
		return err
	}
	for _, v := range vs {
		if _, err := fmt.Fprintf(w, "GATE FAILED: %s\n", v); err != nil {
			return err
		}
	}
	return nil
}
