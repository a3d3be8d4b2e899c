package validate

import (
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
)

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
