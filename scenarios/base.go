package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// yamlError is the *Error of a YAML syntax error in file, at its line.
func yamlError(file string, err error) *Error {
	e := &Error{File: file, Err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[2])
		e.Err = errors.New(strings.TrimPrefix(err.Error(), m[0]))
	}
	return e
}

// Base is a scenario file parsed once, to load many scenarios that
// differ from it by a few keys (the points of a sweep) without reading or
// parsing it again: [Base.Load] applies decoded values, as [Set]s, where
// [Load] parses --set text and the file each time. A Base is safe for
// concurrent use.
type Base struct {
	file   string
	root   *yaml.Node     // the file's top mapping; nil for an empty file
	config map[string]any // the file's keys as viper reads them; never changed
	bad    []byte         // the text, kept when it does not read as a mapping
}

// ParseBase parses data, the text of the scenario file file ("" for the
// built-in scenario, with no data). A YAML syntax error is an [*Error]
// naming the file and line, as [Load] gives it; every other problem is
// found by [Base.Load].
func ParseBase(file string, data []byte) (*Base, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	b := &Base{file: file}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		b.root = resolveAlias(doc.Content[0])
	}
	// What viper's ReadConfig makes of data, once: the same decoder into
	// the same map (its keys lower-cased when read into viper).
	if yaml.Unmarshal(data, &b.config) != nil {
		b.bad = data // Load reports why, as Load would
	}
	return b, nil
}

// File returns the base's file, "" for the built-in scenario.
func (b *Base) File() string { return b.file }

// Root returns the base's top mapping node (nil for an empty file). The
// caller must not change it.
func (b *Base) Root() *yaml.Node { return b.root }

// Set is one override of a scenario key, as --set key=value gives it,
// with its value already parsed: the YAML node (for its lines, kinds and
// integer literals) and the value decoded from it.
type Set struct {
	// Key is the dotted scenario key, e.g. "network.bandwidth".
	Key string
	// Node is the value as YAML.
	Node *yaml.Node
	// Value is Node decoded (text, numbers, booleans, lists, maps).
	Value any
}

// ParseSet parses "key=value" as --set does: the value is YAML. A
// malformed override is an [*Error] marked Flag.
func ParseSet(s string) (Set, error) {
	o, err := parseOverride(s)
	if err != nil {
		return Set{}, err
	}
	return Set{Key: o.key, Node: o.node, Value: o.value}, nil
}

// NewSet returns the override of key by the YAML value n, decoded.
func NewSet(key string, n *yaml.Node) (Set, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return Set{}, &Error{Flag: true, Key: key, Err: fmt.Errorf("value %s: %v", describeNode(n), err)}
	}
	return Set{Key: key, Node: n, Value: v}, nil
}

// Load loads the scenario of the base with sets applied in order, onto
// [DefaultSpec], and validates it: the scenario, and the errors, that
// [Load] gives for the base's file with sets as --set overrides. A Set's
// Value is copied, never changed.
func (b *Base) Load(sets []Set) (*Spec, error) {
	ovs := make([]override, len(sets))
	for i, s := range sets {
		ovs[i] = override{key: s.Key, node: s.Node, value: copyValue(s.Value)}
	}
	return newLoader(b.file).load(b.root, b.readConfig, ovs)
}

// readConfig gives v the file's keys, as v.ReadConfig(data) would.
func (b *Base) readConfig(v *viper.Viper) error {
	if b.bad != nil {
		return v.ReadConfig(bytes.NewReader(b.bad))
	}
	m, _ := copyValue(b.config).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return v.MergeConfigMap(m)
}

// copyValue returns a deep copy of a decoded YAML value: its maps and
// lists are new, its scalars shared.
func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = copyValue(e)
		}
		return c
	case map[any]any:
		c := make(map[any]any, len(x))
		for k, e := range x {
			c[k] = copyValue(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = copyValue(e)
		}
		return c
	}
	return v
}

// WorkloadKey identifies the spec's trace exactly, for sharing one
// materialised copy between runs (see traces.Cache): the generator spec,
// memory, page size and seed, or the trace file's absolute path.
func (s *Spec) WorkloadKey() string {
	if g := s.Workload.Generator; g != nil && s.Workload.Trace == "" {
		return fmt.Sprintf("generator %+v memory=%d page_size=%d seed=%d", *g, int64(s.VM.Memory), int64(s.VM.PageSize), s.Seed)
	}
	p := s.TracePath()
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return "file " + p
}
