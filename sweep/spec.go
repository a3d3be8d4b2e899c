package sweep

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// Sweep is a parameter sweep: a base scenario and axes over its keys,
// expanded into points, each a scenario of its own. Build one with
// [Load], which validates every point.
//
// # File format
//
// A sweep file is a YAML mapping:
//
//	name: hines2009                # text; defaults to the file's base name
//	kind: scenario                 # or fleet; by default a base with a vms key is a fleet
//	base: ../../examples/demo.yaml # a scenario (or fleet) file, relative to this file, or
//	base:                          # a scenario inline
//	  vm: {memory: 512MiB}
//	seed: 1                        # seeds random and latin (default 1)
//	grid:                          # every combination; the first key varies slowest
//	  model.name: [precopy, postcopy]
//	  workload.generator.dirty_rate: [1000, 10000, 50000]
//	zip:                           # lists walked together; all the same length
//	  network.bandwidth: [1Gbit, 10Gbit]
//	  network.rtt: [1ms, 0.1ms]
//	random:                        # n samples drawn uniformly
//	  n: 100
//	  keys:
//	    workload.generator.dirty_rate: {min: 1000, max: 100000, log: true}
//	    model.name: {values: [precopy, postcopy]}
//	latin:                         # n samples, a Latin hypercube
//	  n: 100
//	  keys:
//	    network.bandwidth: {min: 1Gbit, max: 25Gbit}
//	repeat: 5                      # each point with seeds seed, seed+1, ..., seed+4
//
// The file may also be one flow mapping, {name: f, base: {seed: 3},
// grid: {…}}; an inline base is read the same either way.
//
// Every key of grid, zip, random and latin is a dotted scenario key (see
// `migsim scenario explain`), applied to the base like `--set key=value`,
// so values take the same units and are checked by the same strict
// decoding. Over a fleet ([KindFleet]) the keys are the fleet's
// (plan.max_concurrent, vms.NAME.count, vms.NAME.model.downtime_limit,
// network.bandwidth, ...), applied like migsim evacuate --set. A value may be a mapping to replace a whole section, e.g.
// `model: [{name: precopy, max_rounds: 30}, {name: postcopy}]`. The
// blocks combine as a cartesian product, in the order grid, zip, random,
// latin, repeat (repeat varies fastest); a sweep without axes has one
// point, the base.
//
// # Points
//
// Points are numbered from 0 in that order, and each has an ID, a hash of
// its resolved scenario: the same sweep file and base give the same points,
// IDs and order on every machine.
type Spec struct {
	sf *sweepFile
	n  int
	// text[a] is true when axis a's column is text although some
	// points' values are typed (they differ in type between points).
	text []bool
	// ids and groups hold, per point, its ID (16 hex digits as a
	// number) and its workload's group (points with one workload share
	// one): what Run needs of every point, 12 bytes each, recorded as the
	// points are checked ([LoadOptions].Index) or taken from Points.
	ids    []uint64
	groups []int32

	// Name names the sweep: its name key, or the file's base name.
	Name string
	// Kind is what the base, and so each point, is: KindScenario or
	// KindFleet (the sweep file's kind key, or a base with a vms key).
	Kind string
	// File is the sweep file as given to Load.
	File string
	// Seed seeds the random and latin samples.
	Seed uint64
	// Axes are the swept keys, in column order: grid keys, zip keys,
	// random keys, latin keys, then "seed" for repeat.
	Axes []Axis
	// Points are the sweep's scenarios, in order, when the sweep was
	// loaded with them ([Load], or [Open] with KeepMax); nil
	// otherwise. [Spec.Point] works either way.
	Points []Point
	// Fingerprint identifies the sweep's points: a hash of every point's
	// ID in order, 16 hex digits. Two sweeps with one fingerprint run the
	// same scenarios.
	Fingerprint string
	// BaseFile is the base scenario's file: the file the base key names,
	// the sweep file for an inline base, "" for the built-in scenario.
	BaseFile string
	// Base is the base scenario's text as written (YAML), an inline base
	// without its indentation; empty for the built-in scenario.
	Base string
	// BaseSets are the --set overrides applied to the base of every point.
	BaseSets []string
}

// Axis is one swept key.
type Axis struct {
	// Key is the dotted scenario key, e.g. "network.bandwidth"; "seed" for
	// repeat.
	Key string
	// Kind is the block the axis comes from: grid, zip, random, latin or
	// repeat.
	Kind string
	// Column names the axis in result tables: the key, with a unit suffix
	// for sizes (_bytes), rates (_bps, bits/s), page rates
	// (_pages_per_s, a generator's dirty_rate, read_rate, alloc_rate and
	// free_rate) and durations (_s, seconds), e.g.
	// "network.bandwidth_bps", or _spec for a whole section given as a
	// mapping (its YAML text), e.g. "model_spec".
	Column string
	// Type is the type of the axis's column values.
	Type ColumnType
}

// ColumnType is the type of a result column.
type ColumnType string

// Column types: what the values of [Point.Columns] hold.
const (
	ColumnInt   ColumnType = "int"    // int64
	ColumnFloat ColumnType = "float"  // float64
	ColumnText  ColumnType = "string" // string
	ColumnBool  ColumnType = "bool"   // bool
)

// Point is one scenario of a sweep.
type Point struct {
	// Index numbers the point from 0 in sweep order.
	Index int
	// ID is 16 hex digits of the SHA-256 of the resolved scenario: points
	// that run the same scenario have the same ID.
	ID string
	// Sets are the overrides that make the point from the base, as
	// "key=value" in the syntax of --set, one per axis.
	Sets []string
	// Values are the axes' values as given, one per axis, decoded from
	// YAML (strings, numbers, booleans, or maps for sections).
	Values []any
	// Columns are the axes' values resolved and typed for result tables,
	// one per axis, of the axis's [ColumnType]: sizes in bytes, rates in
	// bits/s, durations in seconds.
	Columns []any
	// Spec is the point's scenario, loaded and validated; nil for a
	// sweep over fleets.
	Spec *scenarios.Spec
	// Fleet is the point's fleet, loaded and validated, for a sweep over
	// fleets ([KindFleet]); nil otherwise.
	Fleet *fleet.Spec
}

// Error is a problem with a sweep file. Load joins every
// distinct problem it finds with errors.Join.
type Error struct {
	// File is the sweep file.
	File string
	// Line is the line in File, from 1; 0 when unknown.
	Line int
	// Block is the axis block (grid, zip, random, latin, repeat), or ""
	// for the file's other keys.
	Block string
	// Key is the dotted scenario key of the axis, or the sweep file's key.
	Key string
	// Err says what is wrong.
	Err error
	// Point and Value are, for an axis value the scenario rejects, the
	// first point that has it and the value, as YAML.
	Point int
	Value string
}

// Error formats the problem as "file:line: block key: message", followed
// by "(value V at point N)" for a rejected axis value.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if label := strings.TrimSpace(e.Block + " " + e.Key); label != "" {
		b.WriteString(label + ": ")
	}
	b.WriteString(e.Err.Error())
	if e.Value != "" {
		fmt.Fprintf(&b, " (value %s at point %d)", e.Value, e.Point)
	}
	return b.String()
}

// dedupKey identifies the problem apart from the point that showed it.
func dedupKey(err error) string {
	var se *Error
	if errors.As(err, &se) && se.Value != "" {
		c := *se
		c.Value, c.Point = "", 0
		return c.Error()
	}
	return err.Error()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// Sweep blocks: the axis kinds.
const (
	BlockGrid   = "grid"
	BlockZip    = "zip"
	BlockRandom = "random"
	BlockLatin  = "latin"
	BlockRepeat = "repeat"
)

// sweepKeys are the keys of a sweep file, in documentation order.
var sweepKeys = []string{"name", "kind", "base", "seed", BlockGrid, BlockZip, BlockRandom, BlockLatin, BlockRepeat}

// maxSweepErrors bounds the distinct point errors Load reports; the
// rest are counted ("and N more").
const maxSweepErrors = 20

// maxSweepErrorKeys bounds the distinct problems remembered to count the
// ones not shown.
const maxSweepErrorKeys = 10_000

// maxSweepPoints bounds the size of a sweep, so that a typo in a grid
// fails fast instead of exhausting memory.
const maxSweepPoints = 50_000_000

// Load reads the sweep file at path, expands its axes into points and
// loads every point's scenario with sets (the user's --set overrides, for
// every point) and then the point's axis values applied to the base. It
// validates every point before returning, so a sweep that loads runs
// without scenario errors, and keeps them all in Points (a few KB each;
// see [Open] for a sweep too large to hold).
//
// Errors name the sweep file, the line, the axis block and the key; an
// axis value that the scenario rejects is reported once, however many
// points carry it, and past the first 20 problems the rest are counted.
func Load(path string, sets []string) (*Spec, error) {
	return Open(context.Background(), path, LoadOptions{Sets: sets, KeepMax: math.MaxInt, Index: true})
}

// LoadOptions configure [Open].
type LoadOptions struct {
	// Sets are the user's --set overrides, applied to every point.
	Sets []string
	// KeepMax keeps every point in Spec.Points, as Load does, when
	// the sweep has at most KeepMax points; 0 keeps none.
	KeepMax int
	// Index records each point's ID and workload as the points are
	// checked (12 bytes a point), which [Run] and [Estimate] need of a
	// sweep whose points are not kept; Load does too.
	Index bool
	// Progress, when not nil, is called now and then while the points are
	// checked, with the number checked so far and the total.
	Progress func(checked, total int)
}

// Open is [Load] in memory that does not grow with the points (unless
// o.KeepMax lets it keep them, or o.Index records 12 bytes of each): it
// loads and checks every point the same way, computing the fingerprint
// and the column types as it goes, a batch at a time, and keeps none;
// [Spec.Point] loads a point again when asked. A 36-million-point grid
// is checked in a few hundred MB (about 150 µs of CPU per point), not
// the 5 GB and more that holding it takes. It stops, with ctx's error,
// when ctx is done.
func Open(ctx context.Context, path string, o LoadOptions) (*Spec, error) {
	data, err := scenarios.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sf, err := parseSweep(path, data)
	if err != nil {
		return nil, err
	}
	sets := o.Sets
	for _, s := range sets {
		key, _, _ := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		for _, ax := range sf.axes {
			if key == ax.Key || strings.HasPrefix(ax.Key, key+".") || strings.HasPrefix(key, ax.Key+".") {
				return nil, &Error{File: path, Line: ax.line, Block: ax.Kind, Key: ax.Key,
					Err: fmt.Errorf("--set %s conflicts with this axis (an axis gives the key its value at every point)", key)}
			}
		}
	}
	sw, err := sf.newSweep(sets)
	if err != nil {
		return nil, err
	}
	if err := sw.check(ctx, sw.n <= o.KeepMax, o.Index, o.Progress); err != nil {
		return nil, err
	}
	return sw, nil
}

// KindOf returns the kind of the sweep file at path (KindScenario or
// KindFleet) without loading its points: its kind key, or what its base
// is. It is an error, as [Load] gives it, when the file does not parse.
func KindOf(path string) (string, error) {
	data, err := scenarios.ReadFile(path)
	if err != nil {
		return "", err
	}
	sf, err := parseSweep(path, data)
	if err != nil {
		return "", err
	}
	return sf.kind, nil
}

// sweepAxis is an axis: its values, one per step of its block. Sampled
// and repeat axes make each value when asked, so that their memory is a
// float (or nothing) per step, not a YAML node.
type sweepAxis struct {
	Axis
	line    int
	values  []*yaml.Node // grid, zip: the listed values
	decoded []any        // grid, zip: the values decoded
	texts   []string     // grid, zip: the values as --set text (yamlText)
	sample  *sampleRange // random, latin: the range sampled
	u       []float64    // random, latin: each step's quantile in the range
	seed0   uint64       // repeat: the first seed
	repeat  int          // repeat: the number of seeds
}

// steps returns the number of values of the axis.
func (ax *sweepAxis) steps() int {
	switch {
	case ax.sample != nil:
		return len(ax.u)
	case ax.repeat > 0:
		return ax.repeat
	}
	return len(ax.values)
}

// value returns the axis's value at step s.
func (ax *sweepAxis) value(s int) *yaml.Node {
	switch {
	case ax.sample != nil:
		return ax.sample.at(ax.u[s])
	case ax.repeat > 0:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(ax.seed0+uint64(s), 10)}
	}
	return ax.values[s]
}

// text returns the axis's value n at step s as --set text.
func (ax *sweepAxis) text(s int, n *yaml.Node) string {
	if ax.texts != nil {
		return ax.texts[s]
	}
	return yamlText(n)
}

// decodedValue returns the axis's value at step s decoded from YAML.
func (ax *sweepAxis) decodedValue(s int) any {
	if ax.decoded != nil {
		return ax.decoded[s]
	}
	var v any
	if err := ax.value(s).Decode(&v); err != nil {
		return nil // sampled and repeat values are plain scalars
	}
	return v
}

// sweepFile is a parsed sweep file.
type sweepFile struct {
	path     string
	name     string
	seed     uint64
	baseFile string // scenario file of the base; the sweep file for an inline base
	baseData []byte
	baseSeed uint64          // the base scenario's seed key, for repeat
	nameSet  string          // "name=…" for an inline base without a name, else ""
	kind     string          // KindScenario or KindFleet
	base     *scenarios.Base // a scenario base, parsed
	fixed    []scenarios.Set // nameSet and the user's --set overrides, parsed
	fixedTxt []string        // the same as text, for a fleet
	engine   bool            // the base or the fixed overrides give model.engine
	blocks   [][]*sweepAxis
	sizes    []int // steps of each block
	axes     []*sweepAxis
}

func (sf *sweepFile) errf(line int, block, key, format string, args ...any) error {
	return &Error{File: sf.path, Line: line, Block: block, Key: key, Err: fmt.Errorf(format, args...)}
}

// parseSweep checks the sweep file's keys and reads its blocks.
func parseSweep(path string, data []byte) (*sweepFile, error) {
	sf := &sweepFile{path: path, seed: 1, name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: path, Err: err}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[2])
			e.Err = errors.New(strings.TrimPrefix(err.Error(), m[0]))
		}
		return nil, e
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = resolveAlias(doc.Content[0])
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, sf.errf(0, "", "", "a sweep is a mapping of keys (%s)", strings.Join(sweepKeys, ", "))
	}

	var errs []error
	seen := map[string]int{}
	var baseNode *yaml.Node
	var baseNext *yaml.Node // the key after base, nil when base is last
	var repeat *yaml.Node
	blockNodes := map[string]*yaml.Node{}
	blockLines := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, vn := root.Content[i], resolveAlias(root.Content[i+1])
		if first, dup := seen[kn.Value]; dup {
			errs = append(errs, sf.errf(kn.Line, "", kn.Value, "duplicate key (first at line %d)", first))
			continue
		}
		seen[kn.Value] = kn.Line
		if baseNode != nil && baseNext == nil {
			baseNext = kn
		}
		switch kn.Value {
		case "name":
			if vn.Kind != yaml.ScalarNode || vn.Value == "" {
				errs = append(errs, sf.errf(vn.Line, "", "name", "want text, got %s", scenarios.DescribeNode(vn)))
				continue
			}
			sf.name = vn.Value
		case "seed":
			s, err := strconv.ParseUint(vn.Value, 10, 64)
			if vn.Kind != yaml.ScalarNode || err != nil {
				if err := scenarios.CheckInt(vn, reflect.TypeFor[uint64]()); err != nil {
					errs = append(errs, sf.errf(vn.Line, "", "seed", "%v", err))
					continue
				}
				errs = append(errs, sf.errf(vn.Line, "", "seed", "want a non-negative integer, got %s", scenarios.DescribeNode(vn)))
				continue
			}
			sf.seed = s
		case "base":
			baseNode = vn
		case "kind":
			if vn.Kind != yaml.ScalarNode || !slices.Contains(kinds, vn.Value) {
				errs = append(errs, sf.errf(vn.Line, "", "kind", "want %s, got %s", strings.Join(kinds, " or "), scenarios.DescribeNode(vn)))
				continue
			}
			sf.kind = vn.Value
		case BlockRepeat:
			repeat = vn
		case BlockGrid, BlockZip, BlockRandom, BlockLatin:
			blockNodes[kn.Value], blockLines[kn.Value] = vn, kn.Line
		default:
			msg := "unknown key"
			if s := scenarios.Suggest(kn.Value, sweepKeys); s != "" {
				msg += " (did you mean " + s + "?)"
			} else {
				msg += " (known: " + strings.Join(sweepKeys, ", ") + ")"
			}
			errs = append(errs, sf.errf(kn.Line, "", kn.Value, "%s", msg))
		}
	}
	if err := sf.readBase(baseNode, baseNext, root.Style&yaml.FlowStyle != 0, data); err != nil {
		errs = append(errs, err)
	}
	for _, block := range []string{BlockGrid, BlockZip, BlockRandom, BlockLatin} {
		n, ok := blockNodes[block]
		if !ok {
			continue
		}
		var axes []*sweepAxis
		var err error
		switch block {
		case BlockGrid, BlockZip:
			axes, err = sf.readLists(block, blockLines[block], n)
		default:
			axes, err = sf.readSamples(block, blockLines[block], n)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(axes) == 0 {
			continue
		}
		if block == BlockGrid {
			// Each grid key is a block of its own: a product.
			for _, ax := range axes {
				sf.addBlock([]*sweepAxis{ax}, ax.steps())
			}
		} else {
			sf.addBlock(axes, axes[0].steps())
		}
	}
	if repeat != nil {
		if err := sf.readRepeat(repeat); err != nil {
			errs = append(errs, err)
		}
	}
	if err := sf.checkOverlaps(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		var l errorList
		l.max, l.maxKeys = maxSweepErrors, maxSweepErrorKeys
		for _, err := range errs {
			for _, e := range flatten(err) {
				l.add(e)
			}
		}
		return nil, l.err(path)
	}
	return sf, nil
}

func (sf *sweepFile) addBlock(axes []*sweepAxis, size int) {
	sf.blocks = append(sf.blocks, axes)
	sf.sizes = append(sf.sizes, size)
	sf.axes = append(sf.axes, axes...)
}

// readBase reads the base scenario: a file, or the mapping inline. An
// inline base keeps its place in the sweep file, so that scenario errors
// give the sweep file's lines. next is the sweep key after base (nil when
// base is last) and flow tells whether the sweep is one flow mapping,
// {name: …, base: {…}, grid: {…}}, whose keys may share a line.
func (sf *sweepFile) readBase(n *yaml.Node, next *yaml.Node, flow bool, data []byte) error {
	switch {
	case n == nil || isNull(n):
		sf.baseFile, sf.baseData = "", nil
		sf.nameSet = "name=" + yamlText(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: sf.name})
	case n.Kind == yaml.ScalarNode:
		p := n.Value
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(sf.path), p)
		}
		b, err := scenarios.ReadFile(p)
		if err != nil {
			return sf.errf(n.Line, "", "base", "%v", err)
		}
		sf.baseFile, sf.baseData = p, b
	case n.Kind == yaml.MappingNode:
		sf.baseFile, sf.baseData = sf.path, inlineBase(data, n, next, flow)
		if mappingValue(n, "name") == nil {
			// The points are named after the sweep, not its file.
			sf.nameSet = "name=" + yamlText(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: sf.name})
		}
	default:
		return sf.errf(n.Line, "", "base", "want a scenario or fleet file, or one inline as a mapping, got %s", scenarios.DescribeNode(n))
	}
	sf.baseSeed = scenarios.DefaultSpec().Seed // a fleet's default seed too
	var doc yaml.Node
	var root *yaml.Node
	if err := yaml.Unmarshal(sf.baseData, &doc); err == nil && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if sf.kind == "" {
		sf.kind = baseKind(root)
	}
	if root != nil {
		if s := mappingValue(root, "seed"); s != nil && s.Kind == yaml.ScalarNode {
			if v, err := strconv.ParseUint(s.Value, 10, 64); err == nil {
				sf.baseSeed = v
			}
		}
	}
	return nil
}

// inlineBase returns the text of the inline base mapping n as a YAML
// document of its own whose keys keep their lines in the sweep file:
// data with everything blanked but n's text, which runs from n's start to
// the start of next, the following sweep key (nil: to the end of data).
// In a sweep written as one flow mapping the text then ends with the
// separating comma, or the sweep's closing brace when base is last; both
// are cut. Should the text not hold exactly n's value (a comment after
// the closing brace, say), n is written out anew on its first line, so
// the base is never lost, only its line numbers beyond the first.
func inlineBase(data []byte, n, next *yaml.Node, flow bool) []byte {
	endLine, endCol := 0, 0
	if next != nil {
		endLine, endCol = next.Line, next.Column
	}
	text := inlineSpan(data, n.Line, n.Column, endLine, endCol)
	if flow {
		text = bytes.TrimRight(text, " \t\r\n")
		if next != nil {
			text = bytes.TrimSuffix(text, []byte(","))
		} else {
			text = bytes.TrimSuffix(text, []byte("}"))
		}
		text = append(text, '\n')
	}
	if sameValue(text, n) {
		return text
	}
	b, err := yaml.Marshal(flowCopy(n))
	if err != nil {
		return text
	}
	return append([]byte(strings.Repeat("\n", max(n.Line-1, 0))), b...)
}

// inlineSpan returns data with everything blanked but the text from line,
// column up to endLine, endCol (endLine 0: the end of data), all 1-based
// with columns in characters, keeping every line in its place.
func inlineSpan(data []byte, line, column, endLine, endCol int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out bytes.Buffer
	for i, l := range lines {
		n := i + 1
		if n < line || (endLine > 0 && n > endLine) {
			out.WriteByte('\n')
			continue
		}
		r := []rune(string(l))
		hi := len(r)
		if n == endLine {
			hi = min(max(endCol-1, 0), len(r))
		}
		lo := 0
		if n == line {
			lo = min(max(column-1, 0), hi)
		}
		out.WriteString(strings.Repeat(" ", lo))
		out.WriteString(string(r[lo:hi]))
		if hi < len(r) && !strings.HasSuffix(string(r[lo:hi]), "\n") {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// sameValue reports whether text parses as YAML to the value of n.
func sameValue(text []byte, n *yaml.Node) bool {
	var got, want any
	if err := yaml.Unmarshal(text, &got); err != nil {
		return false
	}
	if err := n.Decode(&want); err != nil {
		return false
	}
	return reflect.DeepEqual(got, want)
}

// axisKey checks the dotted key of an axis and returns it.
func (sf *sweepFile) axisKey(block string, kn *yaml.Node) (string, error) {
	key := strings.TrimSpace(kn.Value)
	if key == "" {
		return "", sf.errf(kn.Line, block, "", "empty key")
	}
	if _, err := sf.keyType(key); err != nil {
		return "", sf.errf(kn.Line, block, key, "%v", err)
	}
	return key, nil
}

// keyType returns the Go type of the dotted key of an axis: a scenario
// key, or a fleet key for a sweep over fleets.
func (sf *sweepFile) keyType(key string) (reflect.Type, error) {
	if sf.kind == KindFleet {
		return fleetKeyType(key)
	}
	return scenarios.Field(key)
}

// eachAxisKey walks the key/value pairs of a block's mapping (pairs is a
// yaml mapping node's Content). Every key must be a scenario key (see
// axisKey) given once; fn reads the value of each good key. It returns
// every problem found, with keys and values alike.
func (sf *sweepFile) eachAxisKey(block string, pairs []*yaml.Node, fn func(key string, kn, vn *yaml.Node) error) []error {
	var errs []error
	seen := map[string]int{}
	for i := 0; i+1 < len(pairs); i += 2 {
		kn, vn := pairs[i], resolveAlias(pairs[i+1])
		key, err := sf.axisKey(block, kn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := seen[key]; dup {
			errs = append(errs, sf.errf(kn.Line, block, key, "duplicate key (first at line %d)", first))
			continue
		}
		seen[key] = kn.Line
		if err := fn(key, kn, vn); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// readLists reads a grid or zip block: a mapping of keys to lists.
func (sf *sweepFile) readLists(block string, line int, n *yaml.Node) ([]*sweepAxis, error) {
	if n.Kind != yaml.MappingNode {
		return nil, sf.errf(line, block, "", "want a mapping of scenario keys to lists of values, got %s", scenarios.DescribeNode(n))
	}
	if len(n.Content) == 0 {
		return nil, sf.errf(line, block, "", "empty block: give at least one key and its values")
	}
	var axes []*sweepAxis
	errs := sf.eachAxisKey(block, n.Content, func(key string, kn, vn *yaml.Node) error {
		if vn.Kind != yaml.SequenceNode {
			return sf.errf(kn.Line, block, key, "want a list of values, e.g. [1, 2, 3], got %s", scenarios.DescribeNode(vn))
		}
		if len(vn.Content) == 0 {
			return sf.errf(kn.Line, block, key, "empty axis: give at least one value (an empty axis leaves no points)")
		}
		vals := make([]*yaml.Node, len(vn.Content))
		for j, v := range vn.Content {
			vals[j] = resolveAlias(v)
		}
		axes = append(axes, &sweepAxis{Axis: Axis{Key: key, Kind: block}, line: kn.Line, values: vals})
		return nil
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if block == BlockZip {
		for _, ax := range axes[1:] {
			if len(ax.values) != len(axes[0].values) {
				return nil, sf.errf(ax.line, block, ax.Key, "has %d values but %s has %d: zip walks its lists together, so they need one length",
					len(ax.values), axes[0].Key, len(axes[0].values))
			}
		}
	}
	return axes, nil
}

// readRepeat reads "repeat: N": N seeds from the base scenario's.
func (sf *sweepFile) readRepeat(n *yaml.Node) error {
	count, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || count < 1 {
		return sf.errf(n.Line, BlockRepeat, "", "want a count of at least 1, got %s", scenarios.DescribeNode(n))
	}
	if uint64(count-1) > math.MaxUint64-sf.baseSeed {
		return sf.errf(n.Line, BlockRepeat, "", "seeds %d to %d+%d do not fit: the last seed must be at most %d",
			sf.baseSeed, sf.baseSeed, count-1, uint64(math.MaxUint64))
	}
	if count > maxSweepPoints {
		return sf.errf(n.Line, BlockRepeat, "", "%d is more than the %d points a sweep may have", count, maxSweepPoints)
	}
	sf.addBlock([]*sweepAxis{{Axis: Axis{Key: "seed", Kind: BlockRepeat}, line: n.Line, seed0: sf.baseSeed, repeat: count}}, count)
	return nil
}

// checkOverlaps rejects a key swept twice, or a key inside a swept
// section.
func (sf *sweepFile) checkOverlaps() error {
	var errs []error
	for i, a := range sf.axes {
		for _, b := range sf.axes[:i] {
			switch {
			case a.Key == b.Key:
				errs = append(errs, sf.errf(a.line, a.Kind, a.Key, "already swept by %s (line %d): a key can be on one axis only", b.Kind, b.line))
			case strings.HasPrefix(a.Key, b.Key+".") || strings.HasPrefix(a.Key, b.Key+"["):
				errs = append(errs, sf.errf(a.line, a.Kind, a.Key, "is inside %s, swept by %s (line %d)", b.Key, b.Kind, b.line))
			case strings.HasPrefix(b.Key, a.Key+".") || strings.HasPrefix(b.Key, a.Key+"["):
				errs = append(errs, sf.errf(a.line, a.Kind, a.Key, "contains %s, swept by %s (line %d)", b.Key, b.Kind, b.line))
			}
		}
	}
	return errors.Join(errs...)
}

// count returns the number of points, or an error when there are too many.
func (sf *sweepFile) count() (int, error) {
	n := 1
	for i, s := range sf.sizes {
		if n > maxSweepPoints/s {
			ax := sf.blocks[i][0]
			return 0, sf.errf(ax.line, ax.Kind, ax.Key, "the sweep has more than %d points", maxSweepPoints)
		}
		n *= s
	}
	return n, nil
}

// newSweep returns the sweep of the parsed file, its points not yet
// checked: list values decoded, the number of points counted.
func (sf *sweepFile) newSweep(sets []string) (*Spec, error) {
	n, err := sf.count()
	if err != nil {
		return nil, err
	}
	sf.fixed, sf.fixedTxt = nil, nil
	for _, s := range append([]string{sf.nameSet}, sets...) {
		if s != "" {
			sf.fixedTxt = append(sf.fixedTxt, s)
		}
	}
	if sf.kind == KindFleet {
		// A fleet's overrides are its --set text: the fleet loader
		// places them as it does a fleet's --set.
		return sf.spec(n, sets)
	}
	if sf.base, err = scenarios.ParseBase(sf.baseFile, sf.baseData); err != nil {
		return nil, err
	}
	for _, s := range sf.fixedTxt {
		set, err := scenarios.ParseSet(s)
		if err != nil {
			return nil, err
		}
		sf.fixed = append(sf.fixed, set)
		sf.engine = sf.engine || givesEngine(set.Key, set.Node)
	}
	sf.engine = sf.engine || mappingValue(mappingValue(sf.base.Root(), "model"), "engine") != nil
	return sf.spec(n, sets)
}

// spec returns the sweep of n points of the parsed file, the user's sets
// applied to each, its points not yet checked: list values decoded.
func (sf *sweepFile) spec(n int, sets []string) (*Spec, error) {
	sw := &Spec{sf: sf, n: n, Name: sf.name, Kind: sf.kind, File: sf.path, Seed: sf.seed,
		text:     make([]bool, len(sf.axes)),
		BaseFile: sf.baseFile, Base: dedent(sf.baseData), BaseSets: slices.Clone(sets)}
	for _, ax := range sf.axes {
		sw.Axes = append(sw.Axes, ax.Axis)
		if ax.values == nil {
			continue
		}
		ax.decoded = make([]any, len(ax.values))
		ax.texts = make([]string, len(ax.values))
		for j, v := range ax.values {
			if err := v.Decode(&ax.decoded[j]); err != nil {
				return nil, sf.errf(v.Line, ax.Kind, ax.Key, "value %d: %v", j, err)
			}
			ax.texts[j] = yamlText(v)
		}
	}
	return sw, nil
}

// Len returns the number of points.
func (sw *Spec) Len() int {
	if sw.Points != nil {
		return len(sw.Points)
	}
	return sw.n
}

// AxisValues returns how many distinct values axis a (an index into
// Axes) takes, and whether they are samples drawn from a range (random,
// latin), then the number drawn.
func (sw *Spec) AxisValues(a int) (n int, sampled bool) {
	if sw.sf == nil { // a Sweep made by hand: count its points' values
		seen := map[string]bool{}
		for _, p := range sw.Points {
			seen[p.Sets[a]] = true
		}
		return len(seen), false
	}
	ax := sw.sf.axes[a]
	switch {
	case ax.sample != nil:
		return len(ax.u), true
	case ax.repeat > 0:
		return ax.repeat, false
	}
	seen := map[string]bool{}
	for _, v := range ax.values {
		seen[yamlText(v)] = true
	}
	return len(seen), false
}

// Point returns point i: the one in Points when the sweep keeps them,
// else the point loaded anew (the same scenario, ID and columns).
func (sw *Spec) Point(i int) (*Point, error) {
	if i < 0 || i >= sw.Len() {
		return nil, fmt.Errorf("sweep %s has no point %d (it has %d)", sw.Name, i, sw.Len())
	}
	if sw.Points != nil || sw.sf == nil {
		return &sw.Points[i], nil
	}
	p := &Point{}
	if sw.ids != nil {
		p.ID = formatID(sw.ids[i]) // as checked: no need to hash the scenario again
	}
	if _, err := sw.sf.point(p, i); err != nil {
		return nil, err
	}
	sw.fixColumns(p)
	return p, nil
}

// sets returns the overrides that make point i, as [Point].Sets, without
// loading it.
func (sw *Spec) sets(i int) []string {
	if sw.sf == nil {
		return sw.Points[i].Sets
	}
	sf := sw.sf
	out := make([]string, 0, len(sf.axes))
	for b, axes := range sf.blocks {
		s := sf.step(i, b)
		for _, ax := range axes {
			out = append(out, ax.Key+"="+ax.text(s, ax.value(s)))
		}
	}
	return out
}

// index returns each point's ID and workload group: recorded when the
// points were checked, or taken from Points (a sweep made by hand); nil
// when there are neither.
func (sw *Spec) index() (ids []uint64, groups []int32) {
	if sw.ids == nil && sw.Points != nil {
		var g workloadGroups
		sw.ids, sw.groups = make([]uint64, len(sw.Points)), make([]int32, len(sw.Points))
		for i := range sw.Points {
			sw.ids[i] = parseID(sw.Points[i].ID)
			sw.groups[i] = g.of(&sw.Points[i])
		}
	}
	return sw.ids, sw.groups
}

// workloadGroups numbers the workloads of points in the order they come:
// points whose scenarios replay one trace (the same
// scenarios.Spec.WorkloadKey) are one group, and each fleet point is a
// group of its own. It keeps 8 bytes of each workload (a hash of its
// key), not the key.
type workloadGroups struct {
	ids map[uint64]int32
}

func (g *workloadGroups) of(p *Point) int32 {
	if g.ids == nil {
		g.ids = map[uint64]int32{}
	}
	h := fnv.New64a()
	if p.Spec != nil {
		h.Write([]byte(p.Spec.WorkloadKey()))
	} else {
		fmt.Fprintf(h, "point %d", p.Index) // a fleet: no trace shared between points
	}
	k := h.Sum64()
	id, ok := g.ids[k]
	if !ok {
		id = int32(len(g.ids))
		g.ids[k] = id
	}
	return id
}

// parseID returns a point's ID, 16 hex digits, as a number.
func parseID(id string) uint64 {
	v, _ := strconv.ParseUint(id, 16, 64)
	return v
}

// formatID returns the ID of number v: 16 hex digits.
func formatID(v uint64) string {
	return fmt.Sprintf("%016x", v)
}

// columnKind is the type and unit suffix of one point's column.
type columnKind struct {
	typ    ColumnType
	suffix string
}

// checkBatch is the number of points checked between two steps of the
// fingerprint, per worker: it bounds the memory of an unkept sweep.
const checkBatch = 256

// check loads and checks every point, a batch at a time on all cores,
// computing the fingerprint and the axes' column types; it keeps the
// points in Points when keep, and their IDs and workloads when index.
// Errors are gathered as the points come, distinct ones only, the first
// maxSweepErrors shown.
func (sw *Spec) check(ctx context.Context, keep, index bool, progress func(int, int)) error {
	sf, n := sw.sf, sw.n
	var groups workloadGroups
	if index {
		sw.ids, sw.groups = make([]uint64, n), make([]int32, n)
	}
	workers := min(runtime.GOMAXPROCS(0), n)
	batch := min(n, workers*checkBatch)
	if keep {
		sw.Points = make([]Point, n)
	}
	var scratch []Point
	if !keep {
		scratch = make([]Point, batch)
	}
	errs := make([]error, batch)
	kinds := make([][]columnKind, batch)
	axisKind := make([]columnKind, len(sf.axes))
	h := sha256.New()
	var problems errorList
	problems.max, problems.maxKeys = maxSweepErrors, maxSweepErrorKeys

	for lo := 0; lo < n; lo += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(n, lo+batch)
		var pts []Point
		if keep {
			pts = sw.Points[lo:hi]
		} else {
			pts = scratch[:hi-lo]
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for j := w; j < hi-lo; j += workers {
					pts[j] = Point{}
					kinds[j], errs[j] = sf.point(&pts[j], lo+j)
				}
			})
		}
		wg.Wait()
		for j := range hi - lo {
			if errs[j] != nil {
				for _, e := range flatten(errs[j]) {
					problems.add(e)
				}
				continue
			}
			h.Write([]byte(pts[j].ID))
			h.Write([]byte{'\n'})
			if index {
				sw.ids[lo+j] = parseID(pts[j].ID)
				sw.groups[lo+j] = groups.of(&pts[j])
			}
			for a, k := range kinds[j] {
				switch {
				case lo+j == 0:
					axisKind[a] = k
				case k != axisKind[a]:
					sw.text[a] = true
				}
			}
			if !keep {
				pts[j] = Point{}
			}
		}
		if progress != nil {
			progress(hi, n)
		}
	}
	if err := problems.err(sf.path); err != nil {
		return err
	}
	for a := range sw.Axes {
		ax := &sw.Axes[a]
		if sw.text[a] {
			ax.Type, ax.Column = ColumnText, ax.Key
		} else {
			ax.Type, ax.Column = axisKind[a].typ, ax.Key+axisKind[a].suffix
		}
		sf.axes[a].Axis = *ax
	}
	if keep {
		for i := range sw.Points {
			sw.fixColumns(&sw.Points[i])
		}
	}
	sw.Fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
	return nil
}

// fixColumns gives p's columns of text axes their value as text.
func (sw *Spec) fixColumns(p *Point) {
	for a, text := range sw.text {
		if _, ok := p.Columns[a].(string); text && !ok {
			_, val, _ := strings.Cut(p.Sets[a], "=")
			p.Columns[a] = val
		}
	}
}

// errorList gathers the distinct problems of a sweep's points: the first
// max are kept to show, the others counted (remembering up to maxKeys
// problems to tell distinct ones apart).
type errorList struct {
	max, maxKeys int
	shown        []error
	seen         map[string]bool
	more         int
	atLeast      bool // seen was full: more counts only the problems it told apart
}

func (l *errorList) add(e error) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	k := dedupKey(e)
	if l.seen[k] {
		return
	}
	if len(l.seen) >= l.maxKeys {
		l.atLeast = true
		return
	}
	l.seen[k] = true
	if len(l.shown) < l.max {
		l.shown = append(l.shown, e)
		return
	}
	l.more++
}

// err returns the problems shown, then "and N more", or nil.
func (l *errorList) err(file string) error {
	if len(l.shown) == 0 {
		return nil
	}
	out := slices.Clone(l.shown)
	if l.more > 0 || l.atLeast {
		atLeast := ""
		if l.atLeast {
			atLeast = "at least "
		}
		out = append(out, fmt.Errorf("%s: and %s%d more problems not shown", file, atLeast, l.more))
	}
	return errors.Join(out...)
}

// Fingerprint returns the fingerprint of a sweep whose points have
// the given IDs, in point order: 16 hex digits of the SHA-256 of the IDs
// joined with newlines.
func Fingerprint(ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// flatten returns the parts of a joined error.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// step returns the step of block b at point i.
func (sf *sweepFile) step(i, b int) int {
	for k := len(sf.sizes) - 1; k > b; k-- {
		i /= sf.sizes[k]
	}
	return i % sf.sizes[b]
}

// point loads point i into p, with its columns as its values give them
// (see Spec.fixColumns), and returns the kind of each column. It hashes
// the scenario for p's ID unless p has one.
func (sf *sweepFile) point(p *Point, i int) ([]columnKind, error) {
	p.Index = i
	p.Sets = make([]string, 0, len(sf.axes))
	p.Values = make([]any, 0, len(sf.axes))
	if sf.kind == KindFleet {
		return sf.fleetPoint(p, i)
	}
	all := make([]scenarios.Set, 0, len(sf.fixed)+len(sf.axes))
	all = append(all, sf.fixed...)
	engine := sf.engine
	for b, axes := range sf.blocks {
		s := sf.step(i, b)
		for _, ax := range axes {
			n := ax.value(s)
			v := ax.decodedValue(s)
			p.Sets = append(p.Sets, ax.Key+"="+ax.text(s, n))
			p.Values = append(p.Values, v)
			all = append(all, scenarios.Set{Key: ax.Key, Node: n, Value: v})
			engine = engine || givesEngine(ax.Key, n)
		}
	}
	spec, err := sf.base.Load(all)
	if err != nil {
		return nil, sf.pointError(err, p)
	}
	if !engine {
		spec.Model.Engine = DefaultEngine
	}
	p.Spec = spec
	if p.ID == "" {
		if p.ID, err = specID(spec); err != nil {
			return nil, err
		}
	}
	kinds := make([]columnKind, len(sf.axes))
	p.Columns = make([]any, len(sf.axes))
	for a, ax := range sf.axes {
		v, t, suf := columnValue(spec, ax.Key, p.Sets[a])
		p.Columns[a], kinds[a] = v, columnKind{t, suf}
	}
	return kinds, nil
}

// fleetPoint loads point i of a sweep over fleets into p (see point):
// the base fleet with the user's --set overrides and the point's values
// as --set text, as migsim evacuate --set applies them.
func (sf *sweepFile) fleetPoint(p *Point, i int) ([]columnKind, error) {
	all := append(make([]string, 0, len(sf.fixedTxt)+len(sf.axes)), sf.fixedTxt...)
	for b, axes := range sf.blocks {
		s := sf.step(i, b)
		for _, ax := range axes {
			n := ax.value(s)
			set := ax.Key + "=" + ax.text(s, n)
			p.Sets = append(p.Sets, set)
			p.Values = append(p.Values, ax.decodedValue(s))
			all = append(all, set)
		}
	}
	f, err := fleet.LoadData(sf.baseFile, sf.baseData, all)
	if err != nil {
		return nil, sf.pointError(err, p)
	}
	p.Fleet = f
	if p.ID == "" {
		if p.ID, err = fleetID(f); err != nil {
			return nil, err
		}
	}
	kinds := make([]columnKind, len(sf.axes))
	p.Columns = make([]any, len(sf.axes))
	for a, ax := range sf.axes {
		v, t, suf := fleetColumn(f, ax.Key, p.Sets[a])
		p.Columns[a], kinds[a] = v, columnKind{t, suf}
	}
	return kinds, nil
}

// DefaultEngine is the model.engine of a sweep's points that do not name
// one (in the base, a --set or an axis): auto, the fluid engine where it
// applies (generator workloads of pre-copy: a run costs rounds, not
// pages) and the page engine elsewhere, saying why in engine_fallback.
// migsim run keeps page, the scenario default.
const DefaultEngine = models.EngineAuto

// givesEngine reports whether the override of key by n names
// model.engine: the key itself, or a model section that has it.
func givesEngine(key string, n *yaml.Node) bool {
	return key == "model.engine" || (key == "model" && mappingValue(n, "engine") != nil)
}

// pointError rewrites the errors of a point's --set overrides as errors
// of the axes that gave them.
func (sf *sweepFile) pointError(err error, p *Point) error {
	var out []error
	for _, e := range flatten(err) {
		var se *scenarios.Error
		if !errors.As(e, &se) || !se.Flag {
			out = append(out, e)
			continue
		}
		ax := sf.axisOf(se.Key)
		if ax == nil {
			out = append(out, e)
			continue
		}
		a := slices.Index(sf.axes, ax)
		_, val, _ := strings.Cut(p.Sets[a], "=")
		msg := se.Err
		if se.Key != ax.Key {
			msg = fmt.Errorf("%s: %w", se.Key, se.Err)
		}
		out = append(out, &Error{File: sf.path, Line: ax.line, Block: ax.Kind, Key: ax.Key,
			Err: msg, Point: p.Index, Value: val})
	}
	return errors.Join(out...)
}

// axisOf returns the axis whose override gave key, or nil.
func (sf *sweepFile) axisOf(key string) *sweepAxis {
	for _, ax := range sf.axes {
		if key == ax.Key || strings.HasPrefix(key, ax.Key+".") || strings.HasPrefix(key, ax.Key+"[") {
			return ax
		}
	}
	return nil
}

// yamlText returns a value as YAML text on one line, for key=value.
func yamlText(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 && n.Tag != "!!str" {
			return n.Value
		}
		if n.Tag == "!!str" && n.Style == 0 {
			// A plain string stays plain unless YAML would read it as
			// something else.
			var v any
			if yaml.Unmarshal([]byte(n.Value), &v) == nil {
				if s, ok := v.(string); ok && s == n.Value {
					return n.Value
				}
			}
		}
	}
	c := flowCopy(n)
	b, err := yaml.Marshal(c)
	if err != nil {
		return n.Value
	}
	return strings.TrimSpace(string(b))
}

// flowCopy returns a copy of n with every collection in flow style and
// no comments. Aliases are replaced by copies of their targets (sized
// from the target, not from the alias node, which has no content) and
// anchors are dropped, so the copy stands alone as a --set value.
func flowCopy(n *yaml.Node) *yaml.Node {
	src := resolveAlias(n)
	c := *src
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Anchor = ""
	if c.Kind == yaml.MappingNode || c.Kind == yaml.SequenceNode {
		c.Style = yaml.FlowStyle
		c.Content = make([]*yaml.Node, len(src.Content))
		for i, k := range src.Content {
			c.Content[i] = flowCopy(k)
		}
	}
	return &c
}
