package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/internal/atomicfile"
	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// Field records: real migrations from a fleet, with no lab.
//
// [ImportRecords] reads records of completed migrations in three formats
// (QMP query-migrate replies, virsh domjobinfo --completed and KubeVirt
// migrationState; see importrec_qmp.go, importrec_virsh.go and
// importrec_kubevirt.go), builds a scenario for each from the facts the
// record holds and those a mapping file or --set gives (never from a
// guess: a fact nobody gives is an error), simulates it, and compares the
// simulator with what the record measured. The result is a suite file and
// suite results that "migsim validate gate" and "migsim calibrate" read as
// they read the lab's.
//
// A field record has no replayer reports: the simulator runs the
// scenario's own workload (its generator, at its nominal pace), and the
// comparison holds only the metrics the record measured
// ([FieldInfo.Measured]).

// FieldFormat names a record format.
type FieldFormat string

// The record formats [ImportRecords] reads.
const (
	// FormatQMP is QMP query-migrate replies: the final one of a
	// completed migration, or polled ones ending with it (see
	// importrec_qmp.go).
	FormatQMP FieldFormat = "qmp"
	// FormatVirsh is the text of "virsh domjobinfo --completed", with or
	// without --rawstats.
	FormatVirsh FieldFormat = "virsh"
	// FormatKubeVirt is a KubeVirt VirtualMachineInstanceMigration (or
	// VirtualMachineInstance) whose status holds migrationState, as YAML
	// or JSON.
	FormatKubeVirt FieldFormat = "kubevirt"
)

// ParseFieldFormat checks a --format value: "" or "auto" (detect each
// file's format), qmp, virsh or kubevirt.
func ParseFieldFormat(s string) (FieldFormat, error) {
	switch f := FieldFormat(s); f {
	case "", "auto":
		return "", nil
	case FormatQMP, FormatVirsh, FormatKubeVirt:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want auto, qmp, virsh or kubevirt", s)
}

// FieldInfo says which field record a [Comparison] comes from and how its
// scenario was built. Lab comparisons have none.
type FieldInfo struct {
	// Format is the record's format; File and Line where it starts.
	Format FieldFormat `json:"format"`
	File   string      `json:"file"`
	Line   int         `json:"line"`
	// VM names the virtual machine: KubeVirt's VMI name, else the
	// record file's name up to its first dot.
	VM string `json:"vm"`
	// Facts are the scenario keys the case sets, in the suite file's
	// order, each with where its value came from.
	Facts []Fact `json:"facts"`
	// Measured names the metrics the record measured, the only ones
	// compared (a lab run measures every metric).
	Measured []string `json:"measured"`
	// Postcopy is true when the record shows the migration switched to
	// post-copy; false when it completed as pre-copy.
	Postcopy bool `json:"postcopy"`
	// Notes say what the import did that a reader should know: a record
	// value a mapping or --set replaced, a record figure left out.
	Notes []string `json:"notes,omitempty"`
}

// Fact is one scenario key of a field record's scenario.
type Fact struct {
	// Key is the dotted scenario key, Value its value as --set takes it.
	Key   string `json:"key"`
	Value string `json:"value"`
	// From says where the value came from: the record and its field
	// ("vm1.json:3 ram.total"), the mapping file and line
	// ("fleet.yaml:12"), or "--set".
	From string `json:"from"`
}

// ErrIncompleteMigration marks a record of a migration that did not
// complete (failed, cancelled, or still running when recorded): there is
// nothing to compare it with. [ImportOptions.SkipIncomplete] skips such
// records instead of failing.
var ErrIncompleteMigration = errors.New("not a completed migration")

// fieldRecord is one record as read from its file, before its scenario
// is built.
type fieldRecord struct {
	format FieldFormat
	file   string
	line   int
	// name is the case name the record proposes (made unique later); vm
	// the machine's name, which mapping entries match.
	name, vm string
	metrics  lab.RealMetrics
	measured []string
	// facts are the scenario keys the record itself gives.
	facts []Fact
	// missing explains, per scenario key, why the record lacks it (for the
	// error that asks for it).
	missing map[string]string
	// dirtyRate is the dirty rate QEMU measured, pages per second (0: not
	// measured); rateTarget is its last measurement, which the import
	// fits the workload's rate to ([fitDirtyRate]; 0: none).
	dirtyRate, rateTarget float64
	// final and series are QMP's final reply and polled samples.
	final  json.RawMessage
	series []lab.MigrateSample
	notes  []string
	// postcopy is true when the migration switched to post-copy.
	postcopy bool
}

// at is the record's position for messages: "file:line (format)".
func (r *fieldRecord) at() string {
	return fmt.Sprintf("%s:%d (%s)", r.file, r.line, r.format)
}

// fact appends a fact the record gives, from the record's field.
func (r *fieldRecord) fact(key, value, field string) {
	r.facts = append(r.facts, Fact{Key: key, Value: value, From: fmt.Sprintf("%s:%d %s", r.file, r.line, field)})
}

// lacks records why the record does not give key.
func (r *fieldRecord) lacks(key, why string) {
	if r.missing == nil {
		r.missing = map[string]string{}
	}
	r.missing[key] = why
}

// ImportOptions configure [ImportRecords].
type ImportOptions struct {
	// Format is every file's format; "" detects each file's.
	Format FieldFormat
	// Mapping gives the facts records lack; nil gives none.
	Mapping *FieldMapping
	// Set holds key=value scenario overrides for every record, over the
	// records and the mapping.
	Set []string
	// SkipIncomplete skips records of migrations that did not complete
	// (naming each on Log) instead of failing.
	SkipIncomplete bool
	// Suite names the suite (default "field").
	Suite string
	// Log, when not nil, receives notes and skipped records.
	Log io.Writer
}

// FieldImport is what [ImportRecords] made of a set of records: a suite
// whose cases are the records' scenarios, and its results.
type FieldImport struct {
	// Suite holds one case per record: the base scenario (an empty one,
	// see [FieldImport.Write]) and the record's keys.
	Suite *Suite
	// Result holds one comparison per record, in the order of the files
	// and of the records in each file.
	Result *SuiteResult
	// Skipped lists the incomplete records skipped, as messages.
	Skipped []string
}

// ImportRecords reads the records in files, builds each one's scenario,
// simulates it and compares it with the record. Every bad record, every
// fact nobody gives and every scenario error is reported, each naming the
// record's file and line (and the mapping's line for a mapped value);
// nothing is simulated until every record is good.
func ImportRecords(ctx context.Context, files []string, opts ImportOptions) (*FieldImport, error) {
	if len(files) == 0 {
		return nil, errors.New("no record files")
	}
	var recs []*fieldRecord
	var errs []error
	out := &FieldImport{}
	incomplete := 0
	for _, f := range files {
		rs, ferrs := readRecordFile(f, opts.Format)
		recs = append(recs, rs...)
		for _, e := range ferrs {
			if errors.Is(e, ErrIncompleteMigration) {
				if opts.SkipIncomplete {
					out.Skipped = append(out.Skipped, e.Error())
					continue
				}
				incomplete++
			}
			errs = append(errs, e)
		}
	}
	if incomplete > 0 {
		errs = append(errs, fmt.Errorf("%d records are of migrations that did not complete: --skip-incomplete skips them", incomplete))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("the files hold no completed migration to import")
	}
	names := uniqueCaseNames(recs)

	name := opts.Suite
	if name == "" {
		name = "field"
	}
	suite := &Suite{Name: name, Base: fieldBaseFile}
	type built struct {
		rec   *fieldRecord
		spec  *scenarios.Spec
		mig   lab.MigrationParams
		facts []Fact
		notes []string
	}
	var bs []built
	for i, r := range recs {
		facts, notes, err := r.assemble(opts.Mapping, opts.Set)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sets := factSets(facts)
		spec, err := scenarios.LoadDefault(append(slices.Clone(sets), "name="+names[i]))
		if err != nil {
			errs = append(errs, r.scenarioError(facts, err))
			continue
		}
		if fitted, note, err := r.fitRate(ctx, facts, sets); err != nil {
			errs = append(errs, fmt.Errorf("record %s: fitting the dirty rate: %w", r.at(), err))
			continue
		} else if note != "" {
			notes = append(notes, note)
		} else if fitted {
			sets = factSets(facts)
			if spec, err = scenarios.LoadDefault(append(slices.Clone(sets), "name="+names[i])); err != nil {
				errs = append(errs, r.scenarioError(facts, err))
				continue
			}
		}
		mig, err := migrationParams(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("record %s: %w", r.at(), err))
			continue
		}
		suite.Cases = append(suite.Cases, SuiteCase{Name: names[i], Set: sets})
		bs = append(bs, built{rec: r, spec: spec, mig: mig, facts: facts, notes: notes})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := &SuiteResult{Suite: name}
	for i, b := range bs {
		r := b.rec
		real := &lab.RealRun{
			GuestMemoryBytes: uint64(b.spec.VM.Memory),
			Metrics:          r.metrics,
			Final:            r.final,
			Series:           r.series,
		}
		c := &Comparison{
			Scenario:          suite.Cases[i].Name,
			AchievedDirtyRate: r.dirtyRate,
			Real:              real,
			Field: &FieldInfo{
				Format: r.format, File: r.file, Line: r.line, VM: r.vm, Postcopy: r.postcopy,
				Facts: b.facts, Measured: r.measured, Notes: append(slices.Clone(r.notes), b.notes...),
			},
		}
		if g := b.spec.Workload.Generator; g != nil && b.spec.Workload.Trace == "" {
			c.NominalDirtyRate = g.DirtyRate
		}
		cc := &Recording{Name: c.Scenario, Spec: b.spec, mig: b.mig, Real: real, Rec: c}
		sim, err := cc.Simulate(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("record %s: simulation: %w", r.at(), err)
		}
		c.Model, c.Sim, c.Metrics = sim.Model, sim, cc.Compare(sim)
		for _, n := range c.Field.Notes {
			if opts.Log != nil {
				fmt.Fprintf(opts.Log, "note: %s: %s\n", c.Scenario, n)
			}
		}
		res.Comparisons = append(res.Comparisons, c)
	}
	res.Summary = summarise(res.Comparisons)
	out.Suite, out.Result = suite, res
	for _, s := range out.Skipped {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "skipped: %s\n", s)
		}
	}
	return out, nil
}

// readRecordFile reads the records of one file in format (detected when
// ""), returning the good records and an error per bad one.
func readRecordFile(path string, format FieldFormat) ([]*fieldRecord, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{err}
	}
	if format == "" {
		if format, err = detectFormat(path, data); err != nil {
			return nil, []error{err}
		}
	}
	switch format {
	case FormatQMP:
		return parseQMPRecords(path, data)
	case FormatVirsh:
		return parseVirshRecords(path, data)
	default:
		return parseKubeVirtRecords(path, data)
	}
}

// detectFormat tells a record file's format from its content: text whose
// first line starts "Job type:" is virsh's; a KubeVirt object names its
// kind (or holds migrationState); other JSON is QMP's.
func detectFormat(path string, data []byte) (FieldFormat, error) {
	text := strings.TrimSpace(string(data))
	switch {
	case text == "":
		return "", fmt.Errorf("%s: empty file: want QMP query-migrate JSON, virsh domjobinfo --completed text or a KubeVirt object", path)
	case strings.HasPrefix(text, "Job type:"):
		return FormatVirsh, nil
	case kubeKind.MatchString(text) || strings.Contains(text, "migrationState"):
		return FormatKubeVirt, nil
	case text[0] == '{' || text[0] == '[':
		return FormatQMP, nil
	}
	return "", fmt.Errorf("%s: unknown record format: want QMP query-migrate JSON, virsh domjobinfo --completed text (starting \"Job type:\") or a KubeVirt object (kind VirtualMachineInstanceMigration); or name it with --format", path)
}

// kubeKind finds a KubeVirt object's kind, in YAML or JSON.
var kubeKind = regexp.MustCompile(`(?m)^\s*"?kind"?\s*:\s*"?(VirtualMachineInstanceMigration|VirtualMachineInstance|List)"?`)

// fileStem is a file's name without folder and extensions, up to its
// first dot ("db1.jobinfo.txt" is db1): the VM name of QMP and virsh
// records.
func fileStem(path string) string {
	b := filepath.Base(path)
	if i := strings.IndexByte(b, '.'); i > 0 {
		return b[:i]
	}
	return b
}

// caseNameChars are the characters a case name keeps; others become "-".
var caseNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// uniqueCaseNames gives every record a case name: its own, with unsafe
// characters replaced, and "-2", "-3"… after the first of equal names.
func uniqueCaseNames(recs []*fieldRecord) []string {
	seen := map[string]int{}
	out := make([]string, len(recs))
	for i, r := range recs {
		n := strings.Trim(caseNameChars.ReplaceAllString(r.name, "-"), "-")
		if n == "" {
			n = "record"
		}
		base := n
		for seen[n] > 0 {
			seen[base]++
			n = fmt.Sprintf("%s-%d", base, seen[base])
		}
		seen[n]++
		out[i] = n
	}
	return out
}

// factRank orders the keys of a case: vm, workload, network, model.name,
// then the other model keys.
func factRank(key string) int {
	switch {
	case strings.HasPrefix(key, "vm."):
		return 0
	case strings.HasPrefix(key, "workload."):
		return 1
	case strings.HasPrefix(key, "network."):
		return 2
	case key == "model.name":
		return 3
	case strings.HasPrefix(key, "model."):
		return 4
	}
	return 5
}

// factSets renders facts as --set overrides.
func factSets(facts []Fact) []string {
	out := make([]string, len(facts))
	for i, f := range facts {
		out[i] = f.Key + "=" + f.Value
	}
	return out
}

// factEntry is a fact and the precedence of its source.
type factEntry struct {
	f    Fact
	prec int
}

// Precedence of a fact's sources, lowest first.
const (
	fromDefaults = iota // the mapping's defaults
	fromRecord          // the record
	fromVM              // a matching vms entry of the mapping
	fromSet             // --set
)

// assemble merges the record's facts with the mapping's and the --set
// overrides (--set over a matching vms entry over the record over the
// mapping's defaults) and checks that every fact the model needs is
// given. It returns the facts in suite order and notes on the values a
// mapping entry or --set replaced.
func (r *fieldRecord) assemble(m *FieldMapping, sets []string) ([]Fact, []string, error) {
	byKey := map[string]factEntry{}
	var notes []string
	put := func(f Fact, prec int) {
		old, ok := byKey[f.Key]
		if ok && old.prec > prec {
			return
		}
		if ok && old.prec == fromRecord && prec > fromRecord && old.f.Value != f.Value {
			notes = append(notes, fmt.Sprintf("%s: %s replaces the record's %s (%s)", f.Key, f.Value, old.f.Value, old.f.From))
		}
		byKey[f.Key] = factEntry{f, prec}
	}
	if m != nil {
		for _, e := range m.Defaults {
			put(Fact{Key: e.Key, Value: e.Value, From: fmt.Sprintf("%s:%d", m.File, e.Line)}, fromDefaults)
		}
	}
	for _, f := range r.facts {
		put(f, fromRecord)
	}
	if m != nil {
		for _, v := range m.VMs {
			if ok, _ := filepath.Match(v.Match, r.vm); !ok {
				continue
			}
			for _, e := range v.Set {
				put(Fact{Key: e.Key, Value: e.Value, From: fmt.Sprintf("%s:%d", m.File, e.Line)}, fromVM)
			}
		}
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, nil, fmt.Errorf("--set %q: want key=value, e.g. network.bandwidth=25Gbit", s)
		}
		put(Fact{Key: strings.TrimSpace(k), Value: v, From: "--set"}, fromSet)
	}

	// A model key applies to the records whose model has it (precopy_rounds
	// to post-copy records, auto_converge to pre-copy ones): elsewhere it
	// is left out, a record's with a note unless it is off. A key no
	// model has stays, for the scenario loader to name.
	model := "precopy"
	if e, ok := byKey["model.name"]; ok {
		model = e.f.Value
	}
	keys := modelKeys()
	for k, e := range byKey {
		if !strings.HasPrefix(k, "model.") || k == "model.name" || keys[model][k] || !keys[""][k] || len(keys[model]) == 0 {
			continue
		}
		delete(byKey, k)
		if e.prec == fromRecord && e.f.Value != "false" && e.f.Value != "0" {
			notes = append(notes, fmt.Sprintf("%s: the %s model has no such key; the record's %s (%s) is left out", k, model, e.f.Value, e.f.From))
		}
	}

	var missing []string
	for _, k := range requiredFacts(model, byKey) {
		if _, ok := byKey[k]; ok {
			continue
		}
		if why := r.missing[k]; why != "" {
			k += " (" + why + ")"
		}
		missing = append(missing, k)
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("record %s: no value for %s: give it in the mapping file (defaults: or vms:) or with --set",
			r.at(), strings.Join(missing, ", "))
	}
	facts := make([]Fact, 0, len(byKey))
	for _, e := range byKey {
		facts = append(facts, e.f)
	}
	slices.SortFunc(facts, func(a, b Fact) int {
		if d := factRank(a.Key) - factRank(b.Key); d != 0 {
			return d
		}
		return strings.Compare(a.Key, b.Key)
	})
	return facts, notes, nil
}

// requiredFacts lists the scenario keys a field record's scenario must
// give (the record, the mapping or --set) for model, given the facts so
// far: what the migration moved and over what, and the settings QEMU ran
// it with. The rest (RTT, device state, per-page costs) are the models'
// defaults, which calibration fits.
func requiredFacts(model string, have map[string]factEntry) []string {
	req := []string{"vm.memory"}
	_, trace := have["workload.trace"]
	kind := ""
	if e, ok := have["workload.generator.kind"]; ok {
		kind = e.f.Value
	}
	switch {
	case trace:
	case kind == "idle":
		req = append(req, "workload.generator.kind")
	default:
		req = append(req, "workload.generator.kind", "workload.generator.dirty_rate", "workload.generator.working_set")
	}
	if _, ok := have["network.profile"]; !ok {
		req = append(req, "network.bandwidth")
	}
	switch model {
	case "precopy":
		req = append(req, "model.downtime_limit", "model.max_bandwidth", "model.auto_converge", "model.multifd.channels")
	case "hybrid":
		req = append(req, "model.downtime_limit", "model.max_bandwidth", "model.multifd.channels", "model.precopy_rounds", "model.max_postcopy_bandwidth")
	case "postcopy":
		req = append(req, "model.multifd.channels", "model.max_postcopy_bandwidth")
	}
	return req
}

// modelKeys is, per model, the set of its model.* keys, and under "" the
// keys of every model.
func modelKeys() map[string]map[string]bool {
	out := map[string]map[string]bool{"": {}}
	for _, k := range scenarios.Keys() {
		if k.Model == "" {
			continue
		}
		if out[k.Model] == nil {
			out[k.Model] = map[string]bool{}
		}
		out[k.Model][k.Key] = true
		out[""][k.Key] = true
	}
	return out
}

// scenarioError turns the scenario loader's errors into errors naming the
// record and where each faulty value came from.
func (r *fieldRecord) scenarioError(facts []Fact, err error) error {
	var all []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		all = j.Unwrap()
	} else {
		all = []error{err}
	}
	var out []error
	for _, e := range all {
		var se *scenarios.Error
		if !errors.As(e, &se) {
			out = append(out, fmt.Errorf("record %s: scenario: %w", r.at(), e))
			continue
		}
		from := ""
		best := -1
		for _, f := range facts {
			if (se.Key == f.Key || strings.HasPrefix(se.Key, f.Key+".") || strings.HasPrefix(f.Key, se.Key+".")) && len(f.Key) > best {
				from, best = f.From, len(f.Key)
			}
		}
		key := se.Key
		if key == "" {
			key = "scenario"
		}
		if from != "" {
			out = append(out, fmt.Errorf("record %s: %s: %s: %w", r.at(), from, key, se.Err))
		} else {
			out = append(out, fmt.Errorf("record %s: %s: %w", r.at(), key, se.Err))
		}
	}
	return errors.Join(out...)
}

// simulateField simulates a field record's scenario on its own workload:
// there is no achieved trace to replay.
func simulateField(ctx context.Context, spec *scenarios.Spec) (*models.Result, error) {
	model, in, err := spec.Build()
	if err != nil {
		return nil, err
	}
	return model.Run(ctx, in)
}

// Compare compares c's real run with sim on the metrics the run
// measured: all of [Run]'s for a lab run, the record's own for a field
// record.
func (c *Recording) Compare(sim *models.Result) []MetricError {
	all := compareRun(c.Real, sim, c.mig)
	if c.Rec == nil || c.Rec.Field == nil {
		return all
	}
	out := all[:0:0]
	for _, m := range all {
		if slices.Contains(c.Rec.Field.Measured, m.Name) {
			out = append(out, m)
		}
	}
	return out
}

// Measures reports whether c's real run measured metric: always for a
// lab run.
func (c *Recording) Measures(metric string) bool {
	return c.Rec == nil || c.Rec.Field == nil || slices.Contains(c.Rec.Field.Measured, metric)
}

// fieldBaseFile is the base scenario file of an imported suite.
const fieldBaseFile = "base.yaml"

// fieldBaseText is its content: nothing but a name, so that each case's
// keys alone, over the built-in defaults, make its scenario.
const fieldBaseText = `# Base scenario of the field records imported by 'migsim validate import':
# empty on purpose. Each case of suite.yaml gives every key its scenario
# needs, with where the value came from; the rest are migsim's defaults
# ('migsim scenario explain').
name: field
`

// Write writes the import to dir (created if needed): suite.yaml (a case
// per record, each key commented with where its value came from, and the
// gate thresholds gate), base.yaml and results.json, the suite results
// "migsim validate gate" and "migsim calibrate" read. Files are replaced
// whole or not at all.
func (fi *FieldImport) Write(dir string, gate []Threshold) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	suite, err := fi.suiteYAML(gate)
	if err != nil {
		return err
	}
	results, err := json.MarshalIndent(fi.Result, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{fieldBaseFile, []byte(fieldBaseText)},
		{"suite.yaml", suite},
		{"results.json", append(results, '\n')},
	} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), "", func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// FieldThresholds splits gate thresholds ths (e.g. a lab suite's) into
// those the imported results res can be held to and those they cannot: a
// threshold on a metric no record of its model measured would fail as
// "missing", and a shaped-path threshold has no field run.
func FieldThresholds(ths []Threshold, res *SuiteResult) (keep, drop []Threshold) {
	for _, t := range ths {
		ok := t.Shaping == "" || t.Shaping == lab.ShapingQEMU
		if ok {
			ok = false
			for _, c := range res.Comparisons {
				if t.Model != "" && c.Model != t.Model {
					continue
				}
				for _, m := range c.Metrics {
					if m.Name == t.Metric {
						ok = true
					}
				}
			}
		}
		if ok {
			keep = append(keep, t)
		} else {
			drop = append(drop, t)
		}
	}
	return keep, drop
}

// WriteVerdicts prints, per record, whether the migration completed as
// pre-copy or switched to post-copy, and what the simulator did, then how
// many verdicts agree.
func (fi *FieldImport) WriteVerdicts(w io.Writer) error {
	agree := 0
	for _, c := range fi.Result.Comparisons {
		real := "converged (pre-copy)"
		if c.Field != nil && c.Field.Postcopy {
			real = "completed in post-copy"
		}
		sim := "did not converge (" + c.Sim.StopReason.String() + ")"
		switch {
		case c.Sim.StopReason == models.StopMaxTime:
			sim = fmt.Sprintf("had not completed after %.0f s (ten times the real run, at least a minute)", c.Sim.TotalTimeS)
		case c.Sim.Converged:
			sim = "converged (pre-copy)"
		case c.Sim.StopReason == models.StopPostcopy:
			sim = "completed in post-copy"
		}
		mark := "differs"
		if real == sim {
			mark, agree = "agrees", agree+1
		}
		if _, err := fmt.Fprintf(w, "verdict %s: real %s, simulated %s: %s\n", c.Scenario, real, sim, mark); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "verdicts agree in %d of %d records\n", agree, len(fi.Result.Comparisons))
	return err
}

// formatByteRate formats a byte rate (bytes per second) exactly, for --set.
func formatByteRate(bps uint64) string {
	switch {
	case bps == 0:
		return "0"
	case bps%(1<<20) == 0:
		return strconv.FormatUint(bps>>20, 10) + "MiB/s"
	case bps%(1<<10) == 0:
		return strconv.FormatUint(bps>>10, 10) + "KiB/s"
	}
	return strconv.FormatUint(bps, 10) + "B/s"
}

// suiteYAML renders the import's suite file: a case per record, each key
// with a comment saying where its value came from, and gate.
func (fi *FieldImport) suiteYAML(gate []Threshold) ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	pair := func(m *yaml.Node, k string, v *yaml.Node) *yaml.Node {
		kn := str(k)
		m.Content = append(m.Content, kn, v)
		return kn
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	first := pair(root, "name", str(fi.Suite.Name))
	first.HeadComment = fmt.Sprintf("Field records imported by 'migsim validate import': %d migrations.\n"+
		"Each case is base.yaml with the keys below; the comment after a key says\n"+
		"where its value came from (the record and its field, the mapping file's\n"+
		"line, or --set). 'migsim validate gate' and 'migsim calibrate --suite'\n"+
		"read this file with results.json.", len(fi.Suite.Cases))
	pair(root, "base", str(fi.Suite.Base))
	cases := &yaml.Node{Kind: yaml.SequenceNode}
	for i, sc := range fi.Suite.Cases {
		fl := fi.Result.Comparisons[i].Field
		cm := &yaml.Node{Kind: yaml.MappingNode}
		pair(cm, "name", str(sc.Name)).HeadComment = fmt.Sprintf("%s:%d (%s), vm %s", fl.File, fl.Line, fl.Format, fl.VM)
		set := &yaml.Node{Kind: yaml.SequenceNode}
		for j, s := range sc.Set {
			n := str(s)
			n.LineComment = fl.Facts[j].From
			set.Content = append(set.Content, n)
		}
		pair(cm, "set", set)
		cases.Content = append(cases.Content, cm)
	}
	pair(root, "cases", cases)
	if len(gate) > 0 {
		g := &yaml.Node{Kind: yaml.SequenceNode}
		for _, t := range gate {
			tm := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			pair(tm, "metric", str(t.Metric))
			for _, kv := range [][2]string{{"model", t.Model}, {"shaping", string(t.Shaping)}, {"calibration", t.Calibration}} {
				if kv[1] != "" {
					pair(tm, kv[0], str(kv[1]))
				}
			}
			if t.Median > 0 {
				pair(tm, "median", str(strconv.FormatFloat(t.Median, 'f', -1, 64)))
			}
			if t.Worst > 0 {
				pair(tm, "worst", str(strconv.FormatFloat(t.Worst, 'f', -1, 64)))
			}
			g.Content = append(g.Content, tm)
		}
		pair(root, "gate", g)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// fieldCase is the [Recording] of a field record, case i of s: its
// uncalibrated scenario, simulated on its own workload (no achieved
// trace).
func (s *Suite) fieldCase(i int, c *Comparison) (*Recording, error) {
	if c.Real == nil {
		return nil, fmt.Errorf("case %s: the results hold no real run", c.Scenario)
	}
	spec, err := s.scenario(i, "calibration=")
	if err != nil {
		return nil, err
	}
	mig, err := migrationParams(spec)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", c.Scenario, err)
	}
	return &Recording{Name: c.Scenario, Spec: spec, mig: mig, Real: c.Real, Rec: c}, nil
}
