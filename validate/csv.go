package validate

import (
	"encoding/csv"
	"io"
	"strconv"
)

// csvHeader names the columns of [WriteCSV].
var csvHeader = []string{"case", "model", "metric", "real", "sim", "rel_err", "undefined"}

// WriteCSV writes the comparisons as CSV, one row per case and metric, in
// the comparisons' order and each comparison's metric order: case, model,
// metric, real, sim, rel_err ((sim − real) / real) and undefined (true
// when real is 0 and sim is not). Numbers are written in the shortest
// form that reads back exactly.
func WriteCSV(w io.Writer, cs []*Comparison) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, c := range cs {
		for _, m := range c.Metrics {
			rec := []string{c.Scenario, c.Model, m.Name, num(m.Real), num(m.Sim), num(m.RelErr), strconv.FormatBool(m.Undefined)}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
