package advise

import (
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/units"
)

// Candidate is one setting the search tries: a scenario built from the
// user's.
type Candidate struct {
	// Name is the candidate's short name, e.g. "auto-converge".
	Name string
	// Description says what the candidate changes, text.
	Description string
	// Spec is the scenario the candidate runs.
	Spec *scenarios.Spec
	// Settings are the model keys whose resolved values differ from the
	// scenario's, as key=value in scenario syntax (model.engine and
	// model.max_time aside, which every candidate sets).
	Settings []string
	// tags say what the candidate relies on (see the none-can list).
	tags tags
}

// tags are what a candidate relies on besides plain pre-copy.
type tags struct {
	throttle, compress, xbzrle, postcopy bool
}

// plain reports whether the candidate is pre-copy alone.
func (t tags) plain() bool { return !t.throttle && !t.compress && !t.xbzrle && !t.postcopy }

// candidate describes one entry of the set before it is built.
type candidate struct {
	name, desc string
	model      string // "" keeps the scenario's model
	tags       tags
	edit       func(p models.Parts)
	when       bool // the candidate applies to this scenario
}

// Candidates returns the documented candidate set (see the package
// documentation) for the scenario base under lim, built and deduplicated,
// in order. base must come from [scenarios.Load]. An error names a
// limit that cannot be used.
func Candidates(base *scenarios.Spec, lim Limits) ([]Candidate, error) {
	if lim.MaxDowntime <= 0 {
		return nil, fmt.Errorf("the downtime limit %v must be positive", lim.MaxDowntime)
	}
	maxTime, err := lim.maxTime(base)
	if err != nil {
		return nil, err
	}
	dl := downtimeLimit(base, lim.MaxDowntime)
	cap0 := baseCap(base)
	limit := func(p models.Parts) {
		if p.Rounds != nil {
			p.Rounds.DowntimeLimit = dl
		}
	}
	multifd := func(n int, codec string) func(p models.Parts) {
		return func(p models.Parts) {
			limit(p)
			if p.Multifd != nil {
				p.Multifd.Channels, p.Multifd.Compression = n, codec
			}
			if p.Xbzrle != nil {
				p.Xbzrle.Enabled = false
			}
		}
	}
	throttle := func(p models.Parts) {
		limit(p)
		if p.Throttle != nil {
			p.Throttle.AutoConverge = true
		}
	}
	mem := base.VM.Memory
	cache := xbzrleCache(mem)
	dlText := dl.String()
	list := []candidate{
		{name: "as-is", desc: "the scenario's own model and settings", when: true, edit: func(models.Parts) {}},
		{name: "downtime-limit", model: "precopy", when: true, edit: limit,
			desc: "pre-copy with downtime_limit " + dlText + ": the limit less the stop's fixed costs"},
		{name: "auto-converge", model: "precopy", when: true, tags: tags{throttle: true},
			desc: "downtime-limit and auto-converge: QEMU's CPU throttle, 20 % then +10 % steps up to 99 %", edit: throttle},
		{name: "multifd-4", model: "precopy", when: true, edit: multifd(4, "none"),
			desc: "downtime-limit over 4 multifd channels"},
		{name: "multifd-8", model: "precopy", when: true, edit: multifd(8, "none"),
			desc: "downtime-limit over 8 multifd channels"},
		{name: "multifd-8-zstd", model: "precopy", when: true, tags: tags{compress: true}, edit: multifd(8, "zstd"),
			desc: "downtime-limit over 8 multifd channels compressing with zstd"},
		{name: "auto-converge+zstd", model: "precopy", when: true, tags: tags{throttle: true, compress: true},
			desc: "auto-converge over 8 multifd channels compressing with zstd",
			edit: func(p models.Parts) { multifd(8, "zstd")(p); throttle(p) }},
		{name: "xbzrle", model: "precopy", when: true, tags: tags{xbzrle: true},
			desc: "downtime-limit and XBZRLE delta encoding with a " + cache.String() + " cache",
			edit: func(p models.Parts) {
				limit(p)
				if p.Multifd != nil {
					p.Multifd.Channels = 0
				}
				if p.Xbzrle != nil {
					p.Xbzrle.Enabled, p.Xbzrle.CacheSize = true, cache
				}
			}},
		{name: "max-bandwidth", model: "precopy", when: cap0 > 0,
			desc: fmt.Sprintf("downtime-limit with the scenario's max_bandwidth (%v) lifted", cap0),
			edit: func(p models.Parts) {
				limit(p)
				if p.Rounds != nil {
					p.Rounds.MaxBandwidth = 0
				}
			}},
		{name: "postcopy", model: "postcopy", when: true, tags: tags{postcopy: true}, edit: func(models.Parts) {},
			desc: "post-copy with QEMU's defaults: the guest moves at once and its pages follow (forward pre-paging)"},
		{name: "hybrid", model: "hybrid", when: true, tags: tags{postcopy: true},
			desc: "one pre-copy pass at downtime-limit, then post-copy", edit: func(p models.Parts) {
				limit(p)
				if p.Switch != nil {
					p.Switch.PrecopyRounds = 1
				}
			}},
	}
	var out []Candidate
	seen := map[string]string{}
	for _, c := range list {
		if !c.when {
			continue
		}
		spec, err := build(base, c.model, maxTime, c.edit)
		if err != nil {
			return nil, fmt.Errorf("candidate %s: %w", c.name, err)
		}
		settings, err := diff(base, spec)
		if err != nil {
			return nil, fmt.Errorf("candidate %s: %w", c.name, err)
		}
		key := spec.Model.Name + "\x00" + strings.Join(settings, "\x00")
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = c.name
		t := c.tags
		if pt, ok := models.PartsOf(spec.Model.Params); ok {
			// What the candidate relies on, from its settings: the
			// scenario's own may already throttle or compress.
			t.throttle = t.throttle || (pt.Throttle != nil && pt.Throttle.AutoConverge)
			t.compress = t.compress || (pt.Multifd != nil && pt.Multifd.Channels > 0 && pt.Multifd.Compression != "" && pt.Multifd.Compression != "none")
			t.xbzrle = t.xbzrle || (pt.Xbzrle != nil && pt.Xbzrle.Enabled)
			t.postcopy = t.postcopy || spec.Model.Name != "precopy" && spec.Model.Name != "parallel"
		}
		out = append(out, Candidate{Name: c.name, Description: c.desc, Spec: spec, Settings: settings, tags: t})
	}
	return out, nil
}

// maxTime returns the time limit for base: lim.MaxTime, or the scenario
// model's max_time.
func (lim Limits) maxTime(base *scenarios.Spec) (time.Duration, error) {
	if lim.MaxTime < 0 {
		return 0, fmt.Errorf("the time limit %v must be positive", lim.MaxTime)
	}
	if lim.MaxTime > 0 {
		return lim.MaxTime, nil
	}
	if p, ok := models.PartsOf(base.Model.Params); ok && p.Stream != nil {
		return p.Stream.MaxTime, nil
	}
	return models.DefaultMaxTime, nil
}

// downtimeLimit is the largest pre-copy downtime_limit whose stop meets
// maxDowntime: the limit less one sync, the device state over the link,
// resume_time and one round trip, in whole milliseconds, at least 1 ms.
func downtimeLimit(base *scenarios.Spec, maxDowntime time.Duration) time.Duration {
	p, _ := models.PartsOf(base.Model.Params)
	sync := models.DefaultSyncTimePerGiB
	if p.Rounds != nil {
		sync = p.Rounds.SyncTimePerGiB
	}
	resume := models.DefaultResumeTime
	if p.Stream != nil {
		resume = p.Stream.ResumeTime
	}
	path := base.Path()
	fixed := time.Duration(float64(sync)*float64(base.VM.Memory)/float64(units.GiB)) + resume + path.MeanRTT()
	if bw := float64(path.Bandwidth); bw > 0 {
		fixed += time.Duration(float64(base.VM.DeviceState) * 8 / bw * 1e9)
	}
	dl := (maxDowntime - fixed).Truncate(time.Millisecond)
	return max(dl, time.Millisecond)
}

// baseCap is the scenario's max_bandwidth, 0 when it has none.
func baseCap(base *scenarios.Spec) units.BitRate {
	if p, ok := models.PartsOf(base.Model.Params); ok && p.Rounds != nil {
		return p.Rounds.MaxBandwidth
	}
	return 0
}

// xbzrleCache is the XBZRLE candidate's cache: an eighth of memory,
// rounded down to a power of two, at least QEMU's default.
func xbzrleCache(mem units.Bytes) units.Bytes {
	def := models.DefaultXbzrle().CacheSize
	c := uint64(mem) / 8
	if c == 0 {
		return def
	}
	c = 1 << (63 - bits.LeadingZeros64(c))
	return max(units.Bytes(c), def)
}

// build returns base with a model section for the candidate: model ""
// keeps base's model and its parameters; another model starts from its
// defaults and takes the parts it shares with base's. edit then changes
// the parts; every candidate runs on model.engine auto within maxTime.
func build(base *scenarios.Spec, model string, maxTime time.Duration, edit func(models.Parts)) (*scenarios.Spec, error) {
	var params any
	if model == "" || model == base.Model.Name {
		model = base.Model.Name
		v := reflect.New(reflect.TypeOf(base.Model.Params).Elem())
		v.Elem().Set(reflect.ValueOf(base.Model.Params).Elem())
		params = v.Interface()
	} else {
		info, err := models.Lookup(model)
		if err != nil {
			return nil, err
		}
		params = info.Params()
		dst, ok := models.PartsOf(params)
		src, ok2 := models.PartsOf(base.Model.Params)
		if ok && ok2 {
			copyParts(dst, src)
		}
	}
	p, ok := models.PartsOf(params)
	if !ok {
		return nil, fmt.Errorf("model %s declares no parameter parts", model)
	}
	edit(p)
	if p.Stream != nil {
		p.Stream.MaxTime = maxTime
	}
	spec := *base
	spec.Model = scenarios.ModelSpec{Name: model, Engine: models.EngineAuto, Params: params}
	return &spec, nil
}

// copyParts copies every part src and dst both have into dst.
func copyParts(dst, src models.Parts) {
	d, s := reflect.ValueOf(dst), reflect.ValueOf(src)
	for i := range d.NumField() {
		df, sf := d.Field(i), s.Field(i)
		if df.IsNil() || sf.IsNil() {
			continue
		}
		df.Elem().Set(sf.Elem())
	}
}

// diff returns the model keys whose resolved value in c differs from
// base's, as key=value, in c's key order: for a key base's model does
// not have, from the default of c's model. model.engine and
// model.max_time are left out.
func diff(base, c *scenarios.Spec) ([]string, error) {
	old := map[string]string{}
	for _, s := range base.Settings(nil) {
		old[s.Key] = s.Value
	}
	info, err := models.Lookup(c.Model.Name)
	if err != nil {
		return nil, err
	}
	fresh := *c
	fresh.Model.Params = info.Params()
	def := map[string]string{}
	for _, s := range fresh.Settings(nil) {
		def[s.Key] = s.Value
	}
	out := []string{}
	for _, s := range c.Settings(nil) {
		if !strings.HasPrefix(s.Key, "model.") || s.Key == "model.engine" || s.Key == "model.max_time" {
			continue
		}
		was, ok := old[s.Key]
		if !ok {
			was = def[s.Key]
			if s.Key == "model.name" {
				was = ""
			}
		}
		if s.Value != was {
			out = append(out, s.Key+"="+s.Value)
		}
	}
	return slices.Clip(out), nil
}
