package fleet

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/internal/editdist"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/units"
)

// Spec is a fleet file: migrations of many VMs over shared links, and
// the plan that orders them. Its keys are a contract:
//
//	name: drain-rack-7
//	seed: 1
//	network: {profile: lan-25g}   # the path between any two hosts
//	hosts: [{name: a, nic: 25Gbit}, {name: b, nic: 25Gbit}]
//	vms:
//	  - {name: web, count: 8, from: a, to: b, vm: {memory: 8GiB}, workload: {...}, model: {...}}
//	plan: {max_concurrent: 1, max_outbound_per_host: 0, max_inbound_per_host: 0,
//	       bandwidth_per_migration: 0, order: fifo, on_timeout: abort}
type Spec struct {
	// Name names the fleet in results.
	Name string
	// Seed seeds every VM: VM i (from 0, in file order after count
	// expansion) takes seed + i, so a one-VM fleet runs as its scenario.
	Seed uint64
	// Hosts are the hosts with their NICs, the listed ones and those only
	// named in from/to (with a NIC of the network's bandwidth), sorted by
	// name.
	Hosts []Host
	// VMs are the migrations, in file order, count expanded.
	VMs []VM
	// Plan orders and caps them.
	Plan Plan

	file string
}

// Host is a machine VMs leave or arrive on.
type Host struct {
	// Name names it in from and to.
	Name string
	// NIC is its network interface's rate, each way, bits per second.
	NIC units.BitRate
	// FollowsNetwork is true for a host named in from or to but not
	// listed in hosts: its NIC is the network's bandwidth and follows the
	// network's bandwidth_schedule.
	FollowsNetwork bool
}

// VM is one migration of a fleet.
type VM struct {
	// Name is the entry's name, or name-i for the i-th of a count.
	Name string
	// Group is the vms entry it comes from.
	Group string
	// From and To name its hosts.
	From, To string
	// Spec is its scenario: the entry's vm, workload and model keys over
	// the fleet's network, seeded seed + its index.
	Spec *scenarios.Spec
}

// Plan is a fleet's plan section.
type Plan struct {
	// MaxConcurrent is how many migrations may be in flight at once
	// across the fleet, at least 1 (OpenStack Nova's default, 1).
	MaxConcurrent int
	// MaxOutboundPerHost and MaxInboundPerHost cap the migrations leaving
	// and arriving on one host at once; 0: no cap.
	MaxOutboundPerHost, MaxInboundPerHost int
	// BandwidthPerMigration caps each migration, bits per second (as
	// KubeVirt's bandwidthPerMigration); 0: no cap.
	BandwidthPerMigration units.BitRate
	// Order is the order migrations start in: fifo (file order),
	// smallest_first, largest_first (by memory), lowest_dirty_first (by
	// the workload's dirty rate) or optimize (a search, see planner.go).
	Order string
	// OnTimeout is what happens to a migration that reaches its model's
	// max_time: abort (it ends there, not completed) or postcopy (a
	// pre-copy switches to post-copy, as Nova's force-complete).
	OnTimeout string
}

// Orders and timeout actions.
const (
	OrderFIFO             = "fifo"
	OrderSmallestFirst    = "smallest_first"
	OrderLargestFirst     = "largest_first"
	OrderLowestDirtyFirst = "lowest_dirty_first"
	OrderOptimize         = "optimize"

	TimeoutAbort    = "abort"
	TimeoutPostcopy = "postcopy"
)

var (
	orders   = []string{OrderFIFO, OrderSmallestFirst, OrderLargestFirst, OrderLowestDirtyFirst, OrderOptimize}
	timeouts = []string{TimeoutAbort, TimeoutPostcopy}
)

// DefaultPlan returns the plan of a fleet file without a plan section:
// one migration at a time in file order (Nova's defaults), no caps,
// abort on timeout.
func DefaultPlan() Plan {
	return Plan{MaxConcurrent: 1, Order: OrderFIFO, OnTimeout: TimeoutAbort}
}

// DefaultEngine is the model.engine of a fleet's VMs whose model
// section does not name one: auto, the fluid engine for generator
// workloads of pre-copy and the page engine for the rest, so that a drain
// or a planner's search costs rounds, not pages. A VM's own
// model.engine (in its entry or as vms.NAME.model.engine=...) wins.
const DefaultEngine = models.EngineAuto

// Default host names when a fleet has no hosts list and a VM entry no
// from or to.
const (
	DefaultSource      = "source"
	DefaultDestination = "destination"
)

// maxVMs bounds a fleet's expanded VMs.
const maxVMs = 100000

// Error is a problem with one key of a fleet file, placed as the
// scenario loader places its own.
type Error = scenarios.Error

// Load reads the fleet file at path and applies overrides, each
// "key=value" over a dotted fleet key: name, seed, network.*, plan.*,
// hosts (a whole list), vms.NAME.count, vms.NAME.from, vms.NAME.to, and
// vms.NAME.KEY for any scenario key KEY of that entry's VMs (vm.*,
// workload.*, model.*, calibration). Every problem found is reported,
// each naming the file, the line and the key.
func Load(path string, overrides []string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return load(path, data, overrides)
}

// loader gathers the problems of one Load.
type loader struct {
	file string
	errs []error
}

func (l *loader) addAt(line int, key string, flag bool, format string, args ...any) {
	e := &Error{File: l.file, Key: key, Err: fmt.Errorf(format, args...)}
	if flag {
		e.Flag = true
	} else {
		e.Line = line
	}
	l.errs = append(l.errs, e)
}

func (l *loader) result() error {
	if len(l.errs) == 0 {
		return nil
	}
	const most = 20
	if n := len(l.errs); n > most {
		l.errs = append(l.errs[:most:most], fmt.Errorf("and %d more", n-most))
	}
	return errors.Join(l.errs...)
}

// fleetKeys are the top-level keys of a fleet file.
var fleetKeys = []string{"name", "seed", "network", "hosts", "vms", "plan"}

// vmEntryKeys are the keys of a vms entry beside the scenario's.
var vmEntryKeys = []string{"name", "count", "from", "to", "vm", "workload", "model", "calibration"}

var yamlLine = regexp.MustCompile(`^yaml: (line (\d+): )?`)

func load(file string, data []byte, overrides []string) (*Spec, error) {
	l := &loader{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: file, Err: err}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[2])
			e.Err = errors.New(strings.TrimPrefix(err.Error(), m[0]))
		}
		return nil, e
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Err: errors.New("a fleet file is a mapping of keys (name, seed, network, hosts, vms, plan)")}
	}
	root := doc.Content[0]

	// Overrides: fleet keys are applied to the node tree (marked as
	// flags), a VM entry's scenario keys go to its scenarios.
	flags := map[string]bool{}
	vmSets := map[string][]string{}
	for _, o := range overrides {
		key, val, ok := strings.Cut(o, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			l.errs = append(l.errs, &Error{Flag: true, Err: fmt.Errorf("%q: want key=value, e.g. plan.max_concurrent=4", o)})
			continue
		}
		var vn yaml.Node
		if err := yaml.Unmarshal([]byte(val), &vn); err != nil {
			l.addAt(0, key, true, "value %q is not valid YAML: %v", val, err)
			continue
		}
		value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}
		if vn.Kind == yaml.DocumentNode && len(vn.Content) > 0 {
			value = vn.Content[0]
		}
		segs := strings.Split(key, ".")
		switch {
		case segs[0] == "vms" && len(segs) >= 3:
			entry := findEntry(mappingValue(root, "vms"), segs[1])
			if entry == nil {
				l.addAt(0, key, true, "no vms entry is named %q (known: %s)", segs[1], strings.Join(entryNames(mappingValue(root, "vms")), ", "))
				continue
			}
			switch segs[2] {
			case "count", "from", "to", "name":
				if len(segs) != 3 {
					l.addAt(0, key, true, "%s is a value, not a section", strings.Join(segs[:3], "."))
					continue
				}
				setPath(entry, segs[2:], value)
				flags[key] = true
			default:
				vmSets[segs[1]] = append(vmSets[segs[1]], strings.Join(segs[2:], ".")+"="+val)
			}
		case slices.Contains(fleetKeys, segs[0]) && segs[0] != "vms":
			setPath(root, segs, value)
			flags[key] = true
		default:
			l.addAt(0, key, true, "unknown fleet key (want %s, or vms.NAME.KEY)", strings.Join(fleetKeys, ", "))
		}
	}

	// Top-level keys.
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if seen[k.Value] {
			l.addAt(k.Line, k.Value, false, "duplicate key")
		}
		seen[k.Value] = true
		if !slices.Contains(fleetKeys, k.Value) {
			l.addAt(k.Line, k.Value, flags[k.Value], "unknown fleet key%s (want %s)", suggestion(k.Value, fleetKeys), strings.Join(fleetKeys, ", "))
		}
	}
	f := &Spec{file: file, Plan: DefaultPlan()}
	f.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if n := mappingValue(root, "name"); n != nil {
		f.Name = n.Value
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			l.addAt(n.Line, "name", flags["name"], "want a non-empty name")
		}
	}
	f.Seed = 1
	if n := mappingValue(root, "seed"); n != nil {
		v, err := strconv.ParseUint(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			l.addAt(n.Line, "seed", flags["seed"], "%q: want an integer from 0 to %d", n.Value, uint64(math.MaxUint64))
		}
		f.Seed = v
	}
	network := mappingValue(root, "network")
	hostList := l.hosts(mappingValue(root, "hosts"), flags["hosts"])
	l.plan(f, mappingValue(root, "plan"), flags)

	vms := mappingValue(root, "vms")
	if vms == nil || vms.Kind != yaml.SequenceNode || len(vms.Content) == 0 {
		line := root.Line
		if vms != nil {
			line = vms.Line
		}
		l.addAt(line, "vms", false, "want a list of VM entries (name, count, from, to, vm, workload, model)")
		return nil, l.result()
	}
	names := map[string]bool{}
	for _, n := range entryNames(vms) {
		if names[n] {
			l.addAt(findEntry(vms, n).Line, "vms", false, "two entries are named %q", n)
		}
		names[n] = true
	}
	for g := range vmSets {
		if !names[g] {
			l.addAt(0, "vms."+g, true, "no vms entry is named %q", g)
		}
	}
	listed := map[string]bool{}
	for _, h := range hostList {
		listed[h.Name] = true
	}
	used := map[string]bool{}
	for i, entry := range vms.Content {
		l.entry(f, i, entry, network, hostList != nil, listed, used, vmSets, flags)
		if len(f.VMs) > maxVMs {
			l.addAt(entry.Line, "vms", false, "the fleet has more than %d VMs", maxVMs)
			break
		}
	}
	if err := l.result(); err != nil {
		return nil, err
	}

	// Hosts: the listed ones, then those only named, with the network's
	// rate.
	f.Hosts = hostList
	netRate := f.VMs[0].Spec.Network.Bandwidth
	var extra []string
	for h := range used {
		if !listed[h] {
			extra = append(extra, h)
		}
	}
	sort.Strings(extra)
	for _, h := range extra {
		f.Hosts = append(f.Hosts, Host{Name: h, NIC: netRate, FollowsNetwork: true})
	}
	sort.Slice(f.Hosts, func(i, j int) bool { return f.Hosts[i].Name < f.Hosts[j].Name })
	return f, nil
}

// hosts reads the hosts list; nil when the file has none.
func (l *loader) hosts(n *yaml.Node, flag bool) []Host {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.addAt(n.Line, "hosts", flag, "want a list of hosts, e.g. [{name: a, nic: 25Gbit}]")
		return nil
	}
	out := []Host{}
	seen := map[string]bool{}
	for i, h := range n.Content {
		key := fmt.Sprintf("hosts[%d]", i)
		if h.Kind != yaml.MappingNode {
			l.addAt(h.Line, key, flag, "want a mapping {name, nic}")
			continue
		}
		var host Host
		for j := 0; j+1 < len(h.Content); j += 2 {
			k, v := h.Content[j], h.Content[j+1]
			switch k.Value {
			case "name":
				host.Name = v.Value
			case "nic":
				r, err := units.ParseBitRate(v.Value)
				if err != nil || !(r > 0) || math.IsInf(float64(r), 0) {
					l.addAt(v.Line, key+".nic", flag, "%q: want a positive rate, e.g. 25Gbit", v.Value)
				}
				host.NIC = r
			default:
				l.addAt(k.Line, key+"."+k.Value, flag, "unknown host key%s (want name, nic)", suggestion(k.Value, []string{"name", "nic"}))
			}
		}
		switch {
		case host.Name == "":
			l.addAt(h.Line, key+".name", flag, "a host needs a name")
		case seen[host.Name]:
			l.addAt(h.Line, key+".name", flag, "host %q is listed twice", host.Name)
		case host.NIC == 0 && keyLine(h, "nic") == 0:
			l.addAt(h.Line, key+".nic", flag, "host %q needs a nic rate, e.g. 25Gbit", host.Name)
		}
		seen[host.Name] = true
		out = append(out, host)
	}
	return out
}

// plan reads the plan section into f.Plan.
func (l *loader) plan(f *Spec, n *yaml.Node, flags map[string]bool) {
	if n == nil {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.addAt(n.Line, "plan", flags["plan"], "want a mapping of plan keys (max_concurrent, max_outbound_per_host, max_inbound_per_host, bandwidth_per_migration, order, on_timeout)")
		return
	}
	known := planKeys
	p := &f.Plan
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := "plan." + k.Value
		flag := flags[key] || flags["plan"]
		count := func(dst *int, least int) {
			x, err := strconv.ParseInt(v.Value, 10, 64)
			if v.Kind != yaml.ScalarNode || err != nil || x < int64(least) || x > math.MaxInt32 {
				what := "0 (no cap) or more"
				if least == 1 {
					what = "at least 1"
				}
				l.addAt(v.Line, key, flag, "%q: want a whole number, %s", v.Value, what)
				return
			}
			*dst = int(x)
		}
		switch k.Value {
		case "max_concurrent":
			count(&p.MaxConcurrent, 1)
		case "max_outbound_per_host":
			count(&p.MaxOutboundPerHost, 0)
		case "max_inbound_per_host":
			count(&p.MaxInboundPerHost, 0)
		case "bandwidth_per_migration":
			r, err := units.ParseBitRate(v.Value)
			if v.Value == "0" {
				r, err = 0, nil
			}
			if err != nil || r < 0 || math.IsInf(float64(r), 0) {
				l.addAt(v.Line, key, flag, "%q: want a rate such as 1Gbit or 52MiB/s, or 0 for no cap", v.Value)
			}
			p.BandwidthPerMigration = r
		case "order":
			if !slices.Contains(orders, v.Value) {
				l.addAt(v.Line, key, flag, "unknown order %q%s (want %s)", v.Value, suggestion(v.Value, orders), strings.Join(orders, ", "))
			}
			p.Order = v.Value
		case "on_timeout":
			if !slices.Contains(timeouts, v.Value) {
				l.addAt(v.Line, key, flag, "unknown action %q (want %s)", v.Value, strings.Join(timeouts, ", "))
			}
			p.OnTimeout = v.Value
		default:
			l.addAt(k.Line, key, flag, "unknown plan key%s (want %s)", suggestion(k.Value, known), strings.Join(known, ", "))
		}
	}
}

// entry reads vms entry i, expanding its count, into f.VMs.
func (l *loader) entry(f *Spec, i int, e, network *yaml.Node, haveHosts bool, listed, used map[string]bool, vmSets map[string][]string, flags map[string]bool) {
	if e.Kind != yaml.MappingNode {
		l.addAt(e.Line, fmt.Sprintf("vms[%d]", i), false, "want a mapping (name, count, from, to, vm, workload, model)")
		return
	}
	name := ""
	if n := mappingValue(e, "name"); n != nil {
		name = n.Value
	}
	prefix := "vms." + name
	if name == "" {
		l.addAt(e.Line, fmt.Sprintf("vms[%d].name", i), false, "every VM entry needs a name")
		return
	}
	ok := true
	for j := 0; j+1 < len(e.Content); j += 2 {
		k := e.Content[j]
		if !slices.Contains(vmEntryKeys, k.Value) {
			l.addAt(k.Line, prefix+"."+k.Value, false, "unknown VM key%s (want %s)", suggestion(k.Value, vmEntryKeys), strings.Join(vmEntryKeys, ", "))
			ok = false
		}
	}
	count := 1
	if n := mappingValue(e, "count"); n != nil {
		x, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil || x < 1 || x > maxVMs {
			l.addAt(n.Line, prefix+".count", flags[prefix+".count"], "%q: want a whole number of VMs from 1 to %d", n.Value, maxVMs)
			ok = false
		}
		count = int(x)
	}
	host := func(key, def string) string {
		n := mappingValue(e, key)
		if n == nil {
			if haveHosts {
				l.addAt(e.Line, prefix+"."+key, false, "required when the fleet lists its hosts (one of: %s)", strings.Join(sortedKeys(listed), ", "))
				ok = false
			}
			return def
		}
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			l.addAt(n.Line, prefix+"."+key, flags[prefix+"."+key], "want a host name")
			ok = false
			return def
		}
		if haveHosts && !listed[n.Value] {
			l.addAt(n.Line, prefix+"."+key, flags[prefix+"."+key], "unknown host %q%s (hosts: %s)", n.Value, suggestion(n.Value, sortedKeys(listed)), strings.Join(sortedKeys(listed), ", "))
			ok = false
		}
		return n.Value
	}
	from, to := host("from", DefaultSource), host("to", DefaultDestination)
	if from == to {
		line := keyLine(e, "to")
		if line == 0 {
			line = e.Line
		}
		l.addAt(line, prefix+".to", flags[prefix+".to"], "the VM would migrate from %q to itself", from)
		ok = false
	}
	if !ok {
		return
	}
	used[from], used[to] = true, true
	explicitEngine := keyLine(mappingValue(e, "model"), "engine") != 0
	for _, s := range vmSets[name] {
		explicitEngine = explicitEngine || strings.HasPrefix(s, "model.engine=")
	}
	for k := 0; k < count; k++ {
		vmName := name
		if count > 1 {
			vmName = fmt.Sprintf("%s-%d", name, k+1)
		}
		idx := len(f.VMs)
		node := scenarioNode(e, network, vmName, f.Seed+uint64(idx))
		spec, err := scenarios.LoadNode(l.file, node, vmSets[name])
		if err != nil {
			l.rekey(err, prefix)
			return // the same errors for every copy
		}
		if !explicitEngine {
			spec.Model.Engine = DefaultEngine
		}
		f.VMs = append(f.VMs, VM{Name: vmName, Group: name, From: from, To: to, Spec: spec})
	}
}

// rekey records the scenario loader's errors of an entry under the
// entry's keys (network keys stay the fleet's).
func (l *loader) rekey(err error, prefix string) {
	parts := []error{err}
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		parts = m.Unwrap()
	}
	for _, p := range parts {
		var e *Error
		if errors.As(p, &e) {
			c := *e
			switch {
			case c.Key == "name" || c.Key == "seed":
				c.Key = prefix + "." + c.Key
			case c.Key == "network" || strings.HasPrefix(c.Key, "network."):
			case c.Key != "":
				c.Key = prefix + "." + c.Key
			default:
				c.Key = prefix
			}
			l.errs = append(l.errs, &c)
			continue
		}
		l.errs = append(l.errs, fmt.Errorf("%s: %s: %w", l.file, prefix, p))
	}
}

// scenarioNode builds the scenario of one VM of entry e: its vm,
// workload, model and calibration keys, the fleet's network, the VM's
// name and seed. The nodes are e's own, so lines stay the file's.
func scenarioNode(e, network *yaml.Node, name string, seed uint64) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: e.Line, Column: e.Column}
	add := func(k string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: v.Line, Column: v.Column}, v)
	}
	add("name", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name, Line: e.Line})
	add("seed", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(seed, 10), Line: e.Line})
	for j := 0; j+1 < len(e.Content); j += 2 {
		switch k, v := e.Content[j], e.Content[j+1]; k.Value {
		case "vm", "workload", "model", "calibration":
			m.Content = append(m.Content, k, v)
		}
	}
	if network != nil {
		k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "network", Line: network.Line}
		m.Content = append(m.Content, k, network)
	}
	return m
}

// mappingValue returns the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
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

// keyLine returns the line of key in mapping n, 0 if absent.
func keyLine(n *yaml.Node, key string) int {
	if n == nil || n.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// findEntry returns the vms entry named name.
func findEntry(vms *yaml.Node, name string) *yaml.Node {
	if vms == nil || vms.Kind != yaml.SequenceNode {
		return nil
	}
	for _, e := range vms.Content {
		if n := mappingValue(e, "name"); n != nil && n.Value == name {
			return e
		}
	}
	return nil
}

// entryNames lists the vms entries' names.
func entryNames(vms *yaml.Node) []string {
	var out []string
	if vms == nil || vms.Kind != yaml.SequenceNode {
		return nil
	}
	for _, e := range vms.Content {
		if n := mappingValue(e, "name"); n != nil {
			out = append(out, n.Value)
		}
	}
	return out
}

// setPath sets the value at the dotted path segs under mapping n,
// making mappings on the way.
func setPath(n *yaml.Node, segs []string, v *yaml.Node) {
	for i, s := range segs {
		if n.Kind != yaml.MappingNode {
			return
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == s {
				next = n.Content[j+1]
				if i == len(segs)-1 {
					n.Content[j+1] = v
					return
				}
			}
		}
		if next == nil {
			k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
			if i == len(segs)-1 {
				n.Content = append(n.Content, k, v)
				return
			}
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, k, next)
		}
		n = next
	}
}

// suggestion returns " (did you mean X?)" for a near miss of key.
func suggestion(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editdist.Distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
