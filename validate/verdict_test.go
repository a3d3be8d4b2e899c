package validate

import (
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// withMaxTime sets the model's max_time on a copy: the case's own spec
// keeps its parameters.
func TestWithMaxTime(t *testing.T) {
	spec, err := scenarios.LoadDefault(nil)
	if err != nil {
		t.Fatal(err)
	}
	limited, err := withMaxTime(spec, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	get := func(s *scenarios.Spec) time.Duration {
		p, _ := models.PartsOf(s.Model.Params)
		return p.Stream.MaxTime
	}
	if get(limited) != 60*time.Second || get(spec) != models.DefaultMaxTime {
		t.Errorf("max_time: copy %v, original %v; want 1m0s and the default %v", get(limited), get(spec), models.DefaultMaxTime)
	}
}

// Verdicts: a completed pre-copy converged, so it agrees when the
// simulator converged; a cancelled run agrees when the simulator did not
// converge within the same time; post-copy cases give none. Retrying
// rebuilds the completed ones and keeps the cancelled.
func TestVerdicts(t *testing.T) {
	res := &SuiteResult{Comparisons: []*Comparison{
		{Scenario: "ok", Model: "precopy", Real: &lab.RealRun{}, Sim: &models.Result{Converged: true, StopReason: models.StopDowntimeMet, TotalTimeS: 8}},
		{Scenario: "early", Model: "precopy", Real: &lab.RealRun{}, Sim: &models.Result{StopReason: models.StopMaxTime, TotalTimeS: 60}},
		{Scenario: "pc", Model: "postcopy", Real: &lab.RealRun{}, Sim: &models.Result{StopReason: models.StopPostcopy}},
	}}
	nc := &NotConvergedError{Scenario: "stuck", Err: &lab.NotCompletedError{Timeout: time.Minute},
		Verdict: Verdict{Case: "stuck", RealCancelledAfterS: 60, SimConverged: true, SimStopReason: "downtime_met", SimTotalTimeS: 8.3}}
	if !res.addNotConverged(nc) || res.addNotConverged(errString("boot failed")) {
		t.Fatal("addNotConverged took the wrong errors")
	}
	res.fillVerdicts()
	res.fillVerdicts() // idempotent: the cancelled run is kept once
	var got []string
	for _, v := range res.Verdicts {
		got = append(got, v.Case+map[bool]string{true: "+", false: "-"}[v.Agree])
	}
	if strings.Join(got, " ") != "ok+ early- stuck-" {
		t.Errorf("verdicts %v, want ok+ early- stuck-", got)
	}
	var b strings.Builder
	if err := res.writeVerdicts(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"verdicts: 1 of 3 pre-copy cases agree", "DISAGREE early: real converged; simulated max_time after 60.0 s",
		"DISAGREE stuck: real not converged within 60 s; simulated downtime_met after 8.3 s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if !strings.Contains(nc.Error(), "migration did not complete within 1m0s") {
		t.Errorf("error %q does not say the migration did not complete", nc.Error())
	}
}

type errString string

func (e errString) Error() string { return string(e) }
