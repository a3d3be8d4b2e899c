package validate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/scenarios"
)

// FieldMapping is the mapping file of "migsim validate import": the
// scenario keys field records lack (a record holds what QEMU measured, not
// the link's bandwidth, the guest's working set or, for some formats, the
// migration's settings), for every record or for the records of some VMs:
//
//	defaults:                 # every record, where the record lacks the key
//	  network.bandwidth: 25Gbit
//	  model.downtime_limit: 300ms
//	  workload.generator.kind: uniform
//	  workload.generator.working_set: 0   # all memory but the zero pages
//	vms:                      # records of matching VMs, over the record
//	  - match: "db-*"         # a shell pattern over the VM name
//	    set:
//	      workload.generator.dirty_rate: 120000
//
// Keys are dotted scenario keys ("migsim scenario explain"), values what
// --set takes. Every matching vms entry applies, in file order, later ones
// over earlier ones. Precedence: --set, then vms entries, then the record,
// then defaults.
type FieldMapping struct {
	// File is the mapping file's path, for messages.
	File string
	// Defaults apply to every record that lacks the key.
	Defaults []MappedKey
	// VMs apply to the records of the VMs they match, over the record.
	VMs []VMMapping
}

// MappedKey is one key=value of a mapping file, with its line.
type MappedKey struct {
	Key, Value string
	Line       int
}

// VMMapping is one entry of a mapping file's vms list.
type VMMapping struct {
	// Match is a shell pattern (path.Match syntax) over the VM name:
	// KubeVirt's VMI name, or the record file's name up to its first dot
	// (db1 for db1.jobinfo.txt).
	Match string
	Line  int
	Set   []MappedKey
}

// LoadFieldMapping reads a mapping file strictly: an unknown section, an
// unknown scenario key, a repeated key or a value that is not a scalar is
// an error naming the file and line.
func LoadFieldMapping(path string) (*FieldMapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &FieldMapping{File: path}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return m, nil // an empty file maps nothing
	}
	root := doc.Content[0]
	at := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, n.Line, fmt.Sprintf(format, args...))
	}
	if root.Kind != yaml.MappingNode {
		return nil, at(root, "a mapping file is a mapping with defaults: and vms:")
	}
	known := knownScenarioKeys()
	keys := func(prefix string, n *yaml.Node) ([]MappedKey, error) {
		if n.Kind != yaml.MappingNode {
			return nil, at(n, "%s: want a mapping of scenario keys to values (e.g. network.bandwidth: 25Gbit)", prefix)
		}
		var out []MappedKey
		seen := map[string]bool{}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch {
			case k.Kind != yaml.ScalarNode:
				errs = append(errs, at(k, "%s: want a scenario key", prefix))
			case seen[k.Value]:
				errs = append(errs, at(k, "%s.%s: repeated", prefix, k.Value))
			case !known[k.Value]:
				errs = append(errs, at(k, "%s.%s: unknown scenario key (see 'migsim scenario explain')", prefix, k.Value))
			case v.Kind != yaml.ScalarNode || v.Tag == "!!null":
				errs = append(errs, at(v, "%s.%s: want a single value such as 25Gbit, 300ms or true", prefix, k.Value))
			default:
				seen[k.Value] = true
				out = append(out, MappedKey{Key: k.Value, Value: v.Value, Line: k.Line})
			}
		}
		return out, errors.Join(errs...)
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			errs = append(errs, at(k, "%s: repeated", k.Value))
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "defaults":
			ks, err := keys("defaults", v)
			m.Defaults = ks
			errs = append(errs, err)
		case "vms":
			if v.Kind != yaml.SequenceNode {
				errs = append(errs, at(v, "vms: want a list of {match: pattern, set: {key: value}}"))
				continue
			}
			for j, e := range v.Content {
				vm, err := vmMapping(path, fmt.Sprintf("vms[%d]", j), e, keys)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				m.VMs = append(m.VMs, vm)
			}
		default:
			errs = append(errs, at(k, "%s: unknown section (want defaults or vms)", k.Value))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// vmMapping reads one entry of vms.
func vmMapping(path, name string, n *yaml.Node, keys func(string, *yaml.Node) ([]MappedKey, error)) (VMMapping, error) {
	at := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, n.Line, fmt.Sprintf(format, args...))
	}
	if n.Kind != yaml.MappingNode {
		return VMMapping{}, at(n, "%s: want {match: pattern, set: {key: value}}", name)
	}
	vm := VMMapping{Line: n.Line}
	var set *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "match":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				return vm, at(v, "%s.match: want a pattern such as \"db-*\"", name)
			}
			if _, err := filepath.Match(v.Value, ""); err != nil {
				return vm, at(v, "%s.match: %q: %v", name, v.Value, err)
			}
			vm.Match = v.Value
		case "set":
			set = v
		default:
			return vm, at(k, "%s.%s: unknown key (want match and set)", name, k.Value)
		}
	}
	if vm.Match == "" {
		return vm, at(n, "%s.match: missing (a pattern over the VM name)", name)
	}
	if set == nil {
		return vm, at(n, "%s.set: missing (the scenario keys for these VMs)", name)
	}
	ks, err := keys(name+".set", set)
	vm.Set = ks
	return vm, err
}

// knownScenarioKeys is every scenario key a mapping may give: those of
// [scenarios.Keys], every model's included.
func knownScenarioKeys() map[string]bool {
	out := map[string]bool{}
	for _, k := range scenarios.Keys() {
		if !k.Section {
			out[k.Key] = true
		}
	}
	return out
}

// LoadGate reads the gate thresholds of a YAML file whose gate: key
// holds them as a suite's does (a suite file, or a file holding only
// gate:); its other keys are not read. An unknown threshold key or a bad
// threshold is an error naming the file and line.
func LoadGate(path string) ([]Threshold, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var g *yaml.Node
	if len(doc.Content) > 0 {
		g = findValue(doc.Content[0], "gate")
	}
	if g == nil {
		return nil, fmt.Errorf("%s: no gate: key (want a list of {metric, model, median, worst} thresholds)", path)
	}
	if g.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: gate: want a list of thresholds", path, g.Line)
	}
	allowed, names := thresholdKeys()
	var out []Threshold
	for i, n := range g.Content {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: gate[%d]: want {metric: ..., median: ..., worst: ...}", path, n.Line, i)
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k := n.Content[j]; !allowed[k.Value] {
				return nil, fmt.Errorf("%s:%d: gate[%d].%s: unknown key (want %s)", path, k.Line, i, k.Value, names)
			}
		}
		var t Threshold
		if err := n.Decode(&t); err != nil {
			return nil, fmt.Errorf("%s:%d: gate[%d]: %w", path, n.Line, i, err)
		}
		if err := checkThresholds([]Threshold{t}); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n.Line, errors.New(strings.Replace(err.Error(), "gate[0]", fmt.Sprintf("gate[%d]", i), 1)))
		}
		out = append(out, t)
	}
	return out, nil
}

// findValue returns the value of key in mapping n, nil when absent.
func findValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// thresholdKeys returns the YAML keys of a [Threshold], from its struct
// tags (so a field added there is accepted here), as a set and as a list
// for messages.
func thresholdKeys() (map[string]bool, string) {
	set := map[string]bool{}
	var names []string
	t := reflect.TypeFor[Threshold]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			set[name] = true
			names = append(names, name)
		}
	}
	return set, strings.Join(names, ", ")
}
