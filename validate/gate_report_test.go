package validate

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

// twoCases is a result with a pre-copy case (total time 10 % off,
// downtime 50 % off) and a post-copy case (total time 20 % off).
func twoCases() *SuiteResult {
	return &SuiteResult{Suite: "s", Comparisons: []*Comparison{
		{Scenario: "pre", Model: "precopy", Metrics: []MetricError{
			metricError("total_time_s", 10, 11), metricError("downtime_s", 0.2, 0.3)}},
		{Scenario: "post", Model: "postcopy", Metrics: []MetricError{
			metricError("total_time_s", 10, 12)}},
	}, Failed: []CaseFailure{{Case: "hybrid", Error: "QEMU died"}}}
}

func TestCheckStatuses(t *testing.T) {
	ths := []Threshold{
		{Metric: "total_time_s", Median: 0.5, Worst: 0.5},       // pass: 10 % and 20 %
		{Metric: "downtime_s", Model: "precopy", Worst: 0.25},   // fail: 50 %
		{Metric: "downtime_s", Model: "hybrid", Median: 0.1},    // missing: no hybrid case
		{Metric: "total_time_s", Model: "postcopy", Worst: 0.1}, // fail: 20 %
	}
	cs := twoCases().Check(ths)
	want := []string{CheckPass, CheckFail, CheckMissing, CheckFail}
	for i, c := range cs {
		if c.Status != want[i] {
			t.Errorf("check %d (%s): status %s, want %s", i, c.Name(), c.Status, want[i])
		}
	}
	if c := cs[0]; c.Cases != 2 || c.MedianAbsErr == nil || *c.WorstAbsErr < 0.199 || *c.WorstAbsErr > 0.201 || c.WorstCase != "post" {
		t.Errorf("pass check: %+v", c)
	}
	miss := cs[2]
	if miss.Cases != 0 || miss.MedianAbsErr != nil || len(miss.Violations) != 1 {
		t.Fatalf("missing check: %+v", miss)
	}
	// The missing threshold is named as missing, with no NaN anywhere.
	msg := miss.Violations[0].String()
	if !strings.Contains(msg, "downtime_s (hybrid): missing") || strings.Contains(msg, "NaN") {
		t.Errorf("missing violation reads %q", msg)
	}
	if got := len(twoCases().Gate(ths)); got != 3 {
		t.Errorf("Gate returned %d violations, want 3 (one per failed or missing check)", got)
	}

	g := NewGateReport(twoCases(), ths)
	if g.Passed {
		t.Error("report passed with failing checks")
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatalf("a report with a missing check does not encode: %v", err)
	}
	if bytes.Contains(b, []byte("NaN")) {
		t.Errorf("JSON holds NaN: %s", b)
	}
	var back struct {
		Passed bool `json:"passed"`
		Checks []struct {
			Status string   `json:"status"`
			Median *float64 `json:"median_abs_rel_err"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Passed || len(back.Checks) != 4 || back.Checks[2].Status != "missing" || back.Checks[2].Median != nil {
		t.Errorf("decoded report: %+v", back)
	}
	if pass := NewGateReport(twoCases(), ths[:1]); !pass.Passed {
		t.Error("report with one passing check did not pass")
	}
}

func TestWriteJUnit(t *testing.T) {
	ths := []Threshold{
		{Metric: "total_time_s", Median: 0.5},
		{Metric: "downtime_s", Model: "hybrid", Median: 0.1},
	}
	var buf bytes.Buffer
	if err := NewGateReport(twoCases(), ths).WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Errors   int    `xml:"errors,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"failure"`
				Error *struct {
					Text string `xml:",chardata"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d test suites", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "gate s" || s.Tests != 3 || s.Failures != 1 || s.Errors != 1 {
		t.Errorf("suite %q: %d tests, %d failures, %d errors; want gate s, 3, 1, 1\n%s", s.Name, s.Tests, s.Failures, s.Errors, buf.String())
	}
	if c := s.Cases[0]; c.Name != "total_time_s (all models)" || c.Failure != nil {
		t.Errorf("first case %+v, want a passing total_time_s (all models)", c)
	}
	if c := s.Cases[1]; c.Failure == nil || c.Failure.Type != "missing" || !strings.Contains(c.Failure.Message, "missing") {
		t.Errorf("second case %+v, want a failure of type missing", c)
	}
	if c := s.Cases[2]; c.Name != "case hybrid" || c.Error == nil || c.Error.Text != "QEMU died" {
		t.Errorf("third case %+v, want the failed hybrid run as an error", c)
	}
}
