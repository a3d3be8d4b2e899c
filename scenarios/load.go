package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Error is a problem with one key of a scenario. [Load] reports every
// problem it finds, each an *Error, joined with errors.Join; use
// errors.As to get the first.
type Error struct {
	// File is the scenario file as given to Load, "" for the built-in
	// scenario.
	File string
	// Line is the line of Key in File, from 1; 0 when the key is not in
	// the file.
	Line int
	// Key is the dotted scenario key, e.g. "model.downtime_limit", or ""
	// for the file as a whole.
	Key string
	// Flag is true when the key's value came from a --set override.
	Flag bool
	// Err says what is wrong.
	Err error
}

// Error formats the problem the way compilers do:
//
//	demo.yaml:7: model.downtim_limit: unknown key (did you mean downtime_limit?)
//	--set model.downtime_limit: duration "3" has no unit (want e.g. 300ms, 10s, 5m)
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Flag:
		b.WriteString("--set ")
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	default:
		b.WriteString("default scenario: ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Load reads the scenario file at path, applies overrides on top of it and
// the file on top of [DefaultSpec], and validates the result.
//
// Each override is "key=value": a dotted scenario key and a YAML value,
// e.g. "model.downtime_limit=30ms" or "network={profile: metro}". Later
// overrides win over earlier ones, and all of them over the file. The
// trace file named by workload.trace is opened to check its header.
//
// Every problem found is reported, each as an [*Error] naming the file,
// the line and the key.
func Load(path string, overrides []string) (*Spec, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return load(path, data, overrides)
}

// LoadDefault is [Load] for the built-in scenario, [DefaultSpec], with no
// file.
func LoadDefault(overrides []string) (*Spec, error) {
	return load("", nil, overrides)
}

// override is one parsed --set key=value.
type override struct {
	key   string
	node  *yaml.Node // the value as YAML
	value any        // the value decoded from node
}

func parseOverride(s string) (override, *Error) {
	key, val, ok := strings.Cut(s, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return override{}, &Error{Flag: true, Err: fmt.Errorf("%q: want key=value, e.g. model.downtime_limit=30ms", s)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
		return override{}, &Error{Flag: true, Key: key, Err: fmt.Errorf("value %q is not valid YAML: %v", val, err)}
	}
	node := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		node = doc.Content[0]
	}
	var v any
	if err := node.Decode(&v); err != nil {
		return override{}, &Error{Flag: true, Key: key, Err: fmt.Errorf("value %q: %v", val, err)}
	}
	return override{key: key, node: node, value: v}, nil
}

// loader holds what one Load learns about where each key came from.
type loader struct {
	file      string
	lines     map[string]int       // key → line in file
	present   map[string]bool      // keys given in the file or by --set
	fromFlag  map[string]bool      // keys given by --set
	modelName string               // the effective model.name
	params    reflect.Type         // the model's parameter type; nil if unknown
	calib     *calibration.Profile // the profile of the calibration key; nil if none
	errs      []*Error
	dropped   int
}

// at returns an *Error for key, placed at the key's line or flag.
func (l *loader) at(key string, err error) *Error {
	e := &Error{File: l.file, Key: key, Err: err}
	for k := key; ; {
		if l.fromFlag[k] {
			e.Flag = true
			return e
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	e.Line = l.lines[key]
	return e
}

func (l *loader) add(key string, err error) { l.push(l.at(key, err)) }

// Error lists are capped: a load keeps the first maxKeptErrors errors it
// finds, to sort them by line and show the first maxShownErrors, and
// only counts the rest ("and N more"), without working out their
// messages; a file of millions of unknown keys fails fast.
const (
	maxKeptErrors  = 1000
	maxShownErrors = 20
)

// push records e, or counts it past maxKeptErrors.
func (l *loader) push(e *Error) {
	if l.full() {
		l.dropped++
		return
	}
	l.errs = append(l.errs, e)
}

// full reports whether the loader keeps no more errors.
func (l *loader) full() bool { return len(l.errs) >= maxKeptErrors }

func (l *loader) addf(key, format string, args ...any) { l.add(key, fmt.Errorf(format, args...)) }

// given reports whether key, or a key below it, was given in the file or
// by --set.
func (l *loader) given(key string) bool {
	if l.present[key] {
		return true
	}
	for k := range l.present {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			return true
		}
	}
	return false
}

// givenInFile reports whether key, or a key below it, was given in the
// file itself (not only by --set).
func (l *loader) givenInFile(key string) bool {
	for k, line := range l.lines {
		if line > 0 && (k == key || strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[")) {
			return true
		}
	}
	return false
}

// result returns the errors found so far, sorted file first by line, then
// flags, the first maxShownErrors and then how many more, or nil.
func (l *loader) result() error {
	if len(l.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(l.errs, func(a, b *Error) int {
		if a.Flag != b.Flag {
			if a.Flag {
				return 1
			}
			return -1
		}
		return a.Line - b.Line
	})
	shown := l.errs[:min(len(l.errs), maxShownErrors)]
	errs := make([]error, 0, len(shown)+1)
	for _, e := range shown {
		errs = append(errs, e)
	}
	if more := len(l.errs) - len(shown) + l.dropped; more > 0 {
		where := l.file
		if where == "" {
			where = "default scenario"
		}
		errs = append(errs, fmt.Errorf("%s: and %d more problems not shown", where, more))
	}
	return errors.Join(errs...)
}

// yamlLine matches the position in a YAML syntax error.
var yamlLine = regexp.MustCompile(`^yaml: (line (\d+): )?`)

func load(file string, data []byte, overrides []string) (*Spec, error) {
	// 1. Parse the file into a node tree (for lines) and the overrides.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = resolveAlias(doc.Content[0])
	}
	return loadRoot(file, root, data, overrides)
}

// loadRoot is load once the file is parsed: root is its top mapping (nil
// for an empty file) and data its text.
func loadRoot(file string, root *yaml.Node, data []byte, overrides []string) (*Spec, error) {
	l := newLoader(file)
	var ovs []override
	for _, s := range overrides {
		o, err := parseOverride(s)
		if err != nil {
			l.push(err)
			continue
		}
		ovs = append(ovs, o)
	}
	return l.load(root, func(v *viper.Viper) error { return v.ReadConfig(bytes.NewReader(data)) }, ovs)
}

func newLoader(file string) *loader {
	return &loader{
		file:     file,
		lines:    map[string]int{},
		present:  map[string]bool{},
		fromFlag: map[string]bool{},
	}
}

// load is loadRoot once the overrides are parsed: config gives viper the
// file's keys (see [Base] for a file parsed once).
func (l *loader) load(root *yaml.Node, config func(*viper.Viper) error, ovs []override) (*Spec, error) {
	file := l.file

	// 2. Find the model, whose parameters decide which model keys exist.
	l.modelName = effectiveModel(root, ovs)
	info, modelErr := models.Lookup(l.modelName)
	if modelErr == nil {
		l.params = reflect.TypeOf(info.Params())
	}

	// 3. Check every key of the file and of the overrides.
	if root != nil && !isNull(root) {
		if root.Kind != yaml.MappingNode {
			return nil, &Error{File: file, Line: root.Line, Err: fmt.Errorf("a scenario is a mapping of keys (name, seed, calibration, vm, workload, network, model), not %s", describeNode(root))}
		}
		l.walkMapping("", root, specType, false)
	}
	for _, o := range ovs {
		l.walkOverride(o)
	}
	if modelErr != nil {
		l.add("model.name", modelErr)
	}
	if err := l.result(); err != nil {
		return nil, err
	}

	// 4. Merge file and overrides with viper and decode onto the defaults.
	v := viper.New()
	v.SetConfigType("yaml")
	if err := config(v); err != nil {
		return nil, &Error{File: file, Err: err}
	}
	for _, o := range ovs {
		v.Set(o.key, o.value)
	}
	spec := DefaultSpec()
	spec.file = file
	if file != "" {
		spec.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if l.modelName != spec.Model.Name {
		spec.Model.Params = info.Params()
	}
	if l.givenInFile("workload.generator") {
		// A file's generator section starts from the generator's own
		// defaults, not from the built-in scenario's workload: a file
		// saying {kind: idle} means an idle guest.
		g := traces.DefaultGeneratorSpec()
		spec.Workload.Generator = &g
	}
	settings := v.AllSettings()
	l.pageRates(settings, spec.VM.PageSize)
	l.decodeErrors(decode(settings, spec, ""))
	if raw, ok := settings["model"].(map[string]any); ok {
		params := maps.Clone(raw)
		delete(params, "name")
		delete(params, "engine") // ModelSpec's own, for every model
		l.decodeErrors(decode(params, spec.Model.Params, "model"))
	}
	if err := l.result(); err != nil {
		return nil, err
	}
	spec.traceFromFlag = spec.Workload.Trace != "" && l.at("workload.trace", nil).Flag

	// 5. Resolve what depends on other keys, apply the calibration
	// profile to the keys not given, then validate.
	l.loadCalibration(spec)
	l.resolve(spec)
	l.applyCalibration(spec)
	l.validate(spec)
	if err := l.result(); err != nil {
		return nil, err
	}
	return spec, nil
}

// effectiveModel returns the model the scenario names: the last --set of
// model.name, else the file's, else the default.
func effectiveModel(root *yaml.Node, ovs []override) string {
	name := DefaultModel
	if m := mappingValue(root, "model"); m != nil {
		if n := mappingValue(m, "name"); n != nil && n.Kind == yaml.ScalarNode {
			name = n.Value
		}
	}
	for _, o := range ovs {
		switch o.key {
		case "model.name":
			if o.node.Kind == yaml.ScalarNode {
				name = o.node.Value
			}
		case "model":
			if n := mappingValue(o.node, "name"); n != nil && n.Kind == yaml.ScalarNode {
				name = n.Value
			}
		}
	}
	return name
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolveAlias(n.Content[i+1])
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// walkMapping checks the keys of mapping n, the section of struct type t
// at prefix, records their lines, and walks their values.
func (l *loader) walkMapping(prefix string, n *yaml.Node, t reflect.Type, flag bool) {
	// With an unknown model only model.name can be checked; it is
	// reported there.
	check := t != modelSpecType || l.params != nil
	ks := sectionKeys(t, l.params)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		full := joinKey(prefix, kn.Value)
		if !flag {
			if first, dup := seen[kn.Value]; dup {
				l.push(&Error{File: l.file, Line: kn.Line, Key: full, Err: fmt.Errorf("duplicate key (first at line %d)", first)})
				continue
			}
			seen[kn.Value] = kn.Line
			l.lines[full] = kn.Line
		}
		l.mark(full, flag)
		f, ok := ks.lookup(kn.Value)
		if !ok {
			if check {
				l.unknown(prefix, kn.Value, ks)
			}
			continue
		}
		l.walkValue(full, vn, f.typ, flag)
	}
}

func (l *loader) mark(key string, flag bool) {
	l.present[key] = true
	if flag {
		l.fromFlag[key] = true
	}
}

// walkValue checks value n of key, of Go type t: sections must be
// mappings and lists of sections lists of mappings. Scalars are left to
// the decoder.
func (l *loader) walkValue(key string, n *yaml.Node, t reflect.Type, flag bool) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if err := checkIntScalar(n, t); err != nil {
		l.add(key, err)
		return
	}
	if st, ok := sectionOf(t); ok {
		if n.Kind != yaml.MappingNode {
			l.addf(key, "want a mapping of keys (%s), got %s", strings.Join(sectionKeys(st, l.params).names(), ", "), describeNode(n))
			return
		}
		l.walkMapping(key, n, st, flag)
		return
	}
	if et, ok := listOf(t); ok {
		if n.Kind != yaml.SequenceNode {
			l.addf(key, "want a list of mappings, got %s", describeNode(n))
			return
		}
		for i, item := range n.Content {
			k := fmt.Sprintf("%s[%d]", key, i)
			if !flag {
				l.lines[k] = item.Line
			}
			l.mark(k, flag)
			l.walkValue(k, item, et, flag)
		}
	}
}

// walkOverride checks the dotted key of an override and its value.
func (l *loader) walkOverride(o override) {
	t, perr := descend(o.key, l.params, false, func(full string) { l.present[full] = true })
	switch {
	case perr == nil:
		l.fromFlag[o.key] = true
		l.walkValue(o.key, o.node, t, true)
	case perr.value:
		l.push(&Error{Flag: true, Key: o.key, Err: perr})
	case perr.section == modelSpecType && l.params == nil:
		// Unknown model, reported at model.name.
	default:
		l.fromFlag[joinKey(perr.prefix, perr.name)] = true
		l.unknown(perr.prefix, perr.name, perr.keys)
	}
}

// unknown reports key, which section prefix does not have.
func (l *loader) unknown(prefix, key string, ks keySet) {
	if l.full() {
		l.dropped++ // no need for its message
		return
	}
	msg := "unknown key"
	if prefix == "model" {
		msg = "unknown key for model " + l.modelName
		for _, m := range modelsWithKey(key, l.modelName) {
			msg += " (a key of model " + m + ")"
		}
	}
	l.add(joinKey(prefix, key), unknownKey(msg, key, ks.names()))
}

// resolve fills in what depends on other keys: the network from its
// profile, the workload's choice of trace or generator, and the VM's size
// from the trace's header.
func (l *loader) resolve(s *Spec) {
	// Network: keys given override the profile's values.
	l.resolveNetwork(&s.Network)

	// Workload: a trace replaces the default generator; giving both is an
	// error.
	w := &s.Workload
	if w.AtEnd == "" {
		w.AtEnd = models.AtEndLoop
	}
	if w.Generator != nil && len(w.Generator.Phases) == 0 {
		w.Generator.Phases = nil // "phases: []" is no phases
	}
	if w.Trace == "" {
		return
	}
	if l.given("workload.generator") {
		e := "give either workload.trace or workload.generator, not both"
		if line := l.lines["workload.generator"]; line > 0 {
			e += fmt.Sprintf(" (generator at line %d)", line)
		}
		l.addf("workload.trace", "%s", e)
		return
	}
	w.Generator = nil
	src, err := traces.OpenFile(s.TracePath())()
	if err != nil {
		l.add("workload.trace", err)
		return
	}
	h := *src.Header()
	if err := traces.Close(src); err != nil {
		l.add("workload.trace", err)
		return
	}
	if h.Epoch < traces.MinEpoch {
		l.addf("workload.trace", "trace %s has epochs of %v, below the %v floor (a run simulates every epoch; see traces.MinEpoch)", s.TracePath(), h.Epoch, traces.MinEpoch)
		return
	}
	covers := fmt.Sprintf("trace %s covers %v: %d pages of %v", s.TracePath(), units.Bytes(h.MemoryBytes()), h.PageCount, units.Bytes(h.PageSize))
	if !l.present["vm.page_size"] {
		s.VM.PageSize = units.Bytes(h.PageSize)
	} else if s.VM.PageSize != units.Bytes(h.PageSize) {
		l.addf("vm.page_size", "%v does not match the trace (%s)", s.VM.PageSize, covers)
	}
	if !l.present["vm.memory"] {
		s.VM.Memory = units.Bytes(h.MemoryBytes())
	} else if s.VM.Memory != units.Bytes(h.MemoryBytes()) {
		l.addf("vm.memory", "%v does not match the trace (%s)", s.VM.Memory, covers)
	}
}

// validate checks the resolved spec and records an error for each bad key.
func (l *loader) validate(s *Spec) {
	if s.Name == "" {
		l.addf("name", "must not be empty")
	}

	vm := s.VM
	vmOK := true
	switch {
	case vm.PageSize < 512 || vm.PageSize&(vm.PageSize-1) != 0 || vm.PageSize > math.MaxUint32:
		l.addf("vm.page_size", "%v must be a power of two of at least 512 bytes", vm.PageSize)
		vmOK = false
	case vm.Memory <= 0:
		l.addf("vm.memory", "must be positive")
		vmOK = false
	case vm.Memory%vm.PageSize != 0:
		l.addf("vm.memory", "%v (%d bytes) is not a whole number of %v pages", vm.Memory, int64(vm.Memory), vm.PageSize)
		vmOK = false
	case uint64(vm.Memory/vm.PageSize) > traces.MaxPages:
		l.addf("vm.memory", "%v is %d pages of %v, more than the %d a trace can hold", vm.Memory, int64(vm.Memory/vm.PageSize), vm.PageSize, uint64(traces.MaxPages))
		vmOK = false
	}
	if vm.VCPUs < 1 {
		l.addf("vm.vcpus", "%d must be at least 1", vm.VCPUs)
	}

	if err := s.Workload.AtEnd.Validate(); err != nil {
		l.add("workload.at_end", err)
	}
	if err := s.Workload.AccessOrder.Validate(); err != nil {
		l.add("workload.access_order", err)
	}
	if d := s.Workload.CPUDemand; !(d > 0 && d <= 1) {
		l.addf("workload.cpu_demand", "%v must be in (0, 1]: the share of its vCPUs' time the workload needs", d)
	}
	if b := s.Workload.BackgroundPages; b < 0 {
		l.addf("workload.background_pages", "%d must not be negative", b)
	} else if vmOK && uint64(b) > uint64(vm.Memory/vm.PageSize) {
		l.addf("workload.background_pages", "%d is more than the guest's %d pages", b, int64(vm.Memory/vm.PageSize))
	}
	if r := s.Workload.BackgroundWriteRate; !(r >= 0) || math.IsInf(r, 0) {
		l.addf("workload.background_write_rate", "%v must be a finite number of pages/s, 0 or more", r)
	} else if r > 0 && s.Workload.BackgroundPages <= 0 {
		l.addf("workload.background_write_rate", "%v pages/s needs workload.background_pages: the writes fall on those pages", r)
	}
	if g := s.Workload.Generator; g != nil && vmOK {
		if err := g.Validate(vm.Memory, vm.PageSize); err != nil {
			var ke *traces.KeyError
			if errors.As(err, &ke) {
				l.add("workload."+ke.Key, ke.Err)
			} else {
				l.add("workload.generator", err)
			}
		}
	}

	l.validateNetwork(s.Network)
	l.validateLinkFloor(s)

	if v, ok := s.Model.Params.(models.Validator); ok {
		fields, rest := models.FieldErrors(v.Validate())
		for _, fe := range fields {
			l.add(fe.Key, fe.Err)
		}
		for _, err := range rest {
			l.add("model", err)
		}
	}
	l.validateEngine(s)
}

// resolveNetwork fills the network keys not given from the profile (or,
// for an empty or custom profile, from the TCP defaults), and drops an
// empty bandwidth schedule.
func (l *loader) resolveNetwork(n *NetworkSpec) {
	base := NetworkProfile{Window: sim.DefaultWindow, MSS: sim.DefaultMSS}
	switch n.Profile {
	case "":
		if !l.present["network.bandwidth"] && (l.calib == nil || l.calib.LinkBandwidth <= 0) {
			l.addf("network.bandwidth", "required when network.profile is empty")
		}
		base.Bandwidth = n.Bandwidth
	case CustomProfile:
		for _, k := range []string{"bandwidth", "rtt"} {
			if !l.present["network."+k] {
				l.addf("network."+k, "required when network.profile is %s", CustomProfile)
			}
		}
		base.Bandwidth, base.RTT = n.Bandwidth, n.RTT
	default:
		p, err := LookupProfile(n.Profile)
		if err != nil {
			l.add("network.profile", err)
			return
		}
		base = p
	}
	given := func(key string) bool { return l.present["network."+key] }
	if !given("bandwidth") {
		n.Bandwidth = base.Bandwidth
	}
	if !given("rtt") {
		n.RTT = base.RTT
	}
	if !given("loss") {
		n.Loss = base.Loss
	}
	if !given("jitter") {
		n.Jitter = base.Jitter
	}
	if !given("tcp_window") {
		n.TCPWindow = base.Window
	}
	if !given("mss") {
		n.MSS = base.MSS
	}
	if len(n.BandwidthSchedule) == 0 {
		n.BandwidthSchedule = nil // "bandwidth_schedule: []" is no schedule
	}
}

// validateNetwork checks the resolved network section.
func (l *loader) validateNetwork(n NetworkSpec) {
	if !(n.Bandwidth > 0) || math.IsInf(float64(n.Bandwidth), 0) {
		l.addf("network.bandwidth", "%v must be positive", n.Bandwidth)
	}
	if n.RTT < 0 {
		l.addf("network.rtt", "%v must not be negative", n.RTT)
	}
	if n.Loss < 0 || n.Loss >= 1 || math.IsNaN(n.Loss) {
		l.addf("network.loss", "%v must be a fraction in [0, 1)", n.Loss)
	}
	if n.Jitter < 0 {
		l.addf("network.jitter", "%v must not be negative", n.Jitter)
	}
	mssOK := n.MSS >= sim.MinMSS && n.MSS <= sim.MaxMSS
	if !mssOK {
		l.addf("network.mss", "%v must be between %v and %v", n.MSS, sim.MinMSS, sim.MaxMSS)
	}
	switch {
	case n.TCPWindow < 0:
		l.addf("network.tcp_window", "%v must not be negative (0 means no limit)", n.TCPWindow)
	case n.TCPWindow > 0 && mssOK && n.TCPWindow < n.MSS:
		l.addf("network.tcp_window", "%v is less than one segment (mss %v); 0 means no limit", n.TCPWindow, n.MSS)
	}
	if n.Streams < 1 {
		l.addf("network.streams", "%d must be at least 1", n.Streams)
	}
	for i, st := range n.BandwidthSchedule {
		key := fmt.Sprintf("network.bandwidth_schedule[%d]", i)
		if st.At < 0 {
			l.addf(key+".at", "%v must not be negative", st.At)
		} else if i > 0 && st.At <= n.BandwidthSchedule[i-1].At {
			l.addf(key+".at", "%v must be after the previous step's %v", st.At, n.BandwidthSchedule[i-1].At)
		}
		if st.Bandwidth < 0 || math.IsInf(float64(st.Bandwidth), 0) {
			l.addf(key+".bandwidth", "%v must be positive, or 0 for network.bandwidth", st.Bandwidth)
		}
		if st.CrossTraffic < 0 || st.CrossTraffic >= 1 || math.IsNaN(st.CrossTraffic) {
			l.addf(key+".cross_traffic", "%v must be a fraction in [0, 1)", st.CrossTraffic)
		}
	}
}

// loadCalibration finds the profile of the calibration key, a built-in
// name or a profile file: relative to the scenario file's directory, or
// to the working directory when the key came from --set.
func (l *loader) loadCalibration(s *Spec) {
	if s.Calibration == "" {
		return
	}
	dir := ""
	if s.file != "" && !l.at("calibration", nil).Flag {
		dir = filepath.Dir(s.file)
	}
	p, err := calibration.Resolve(s.Calibration, dir)
	if err != nil {
		l.add("calibration", err)
		return
	}
	l.calib, s.calib = p, p
}

// applyCalibration applies the calibration profile to the keys the
// scenario does not give itself (see [Spec.Calibration] and
// applyProfile), remembering what it changed.
func (l *loader) applyCalibration(s *Spec) {
	if l.calib == nil {
		return
	}
	s.uncal = &uncalibrated{params: cloneParams(s.Model.Params), bandwidth: s.Network.Bandwidth, deviceState: s.VM.DeviceState}
	applyProfile(s, l.calib, func(key string) bool { return l.present[key] })
}

// cloneParams returns a shallow copy of the model parameters params
// points to (nil stays nil).
func cloneParams(params any) any {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return params
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface()
}
