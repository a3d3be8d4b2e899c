package validate

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"testing"
)

func TestWriteCSV(t *testing.T) {
	cs := []*Comparison{
		{Scenario: "a", Model: "precopy", Metrics: []MetricError{metricError("total_time_s", 8.969, 8.864), metricError("downtime_s", 0, 0.1)}},
		{Scenario: "b", Model: "postcopy", Metrics: []MetricError{metricError("postcopy_requests", 134, 69)}},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, cs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][2] != "metric" {
		t.Fatalf("rows %q, want a header and 3 rows", rows)
	}
	if r := rows[1]; r[0] != "a" || r[1] != "precopy" || r[2] != "total_time_s" || r[3] != "8.969" || r[4] != "8.864" {
		t.Errorf("row 1 %q", r)
	}
	if got, _ := strconv.ParseFloat(rows[1][5], 64); got != cs[0].Metrics[0].RelErr {
		t.Errorf("rel_err %s does not read back as %v", rows[1][5], cs[0].Metrics[0].RelErr)
	}
	if rows[2][6] != "true" || rows[3][6] != "false" {
		t.Errorf("undefined column %q %q", rows[2][6], rows[3][6])
	}
}
