package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/scenarios"
)

// Sweeps over fleets
//
// A sweep's base may be a fleet file (migsim evacuate's; see package
// fleet): then its axes go over fleet keys, each point is the fleet with
// the point's values given as a fleet's --set gives them (so a bad value
// is the error a fleet --set gives, at the axis's line), runs
// fleet.Evacuate, and writes one row: the fleet's summary
// ([fleet.Summary]).

// Kinds of sweep: what its base, and so each point, is.
const (
	// KindScenario: the base is a scenario; each point runs one migration.
	KindScenario = "scenario"
	// KindFleet: the base is a fleet file; each point evacuates a fleet.
	KindFleet = "fleet"
)

var kinds = []string{KindScenario, KindFleet}

// baseKind returns the kind of a base whose top mapping is root: a fleet
// when it has a vms key, which every fleet file needs and no scenario
// has; else a scenario.
func baseKind(root *yaml.Node) string {
	if mappingValue(root, "vms") != nil {
		return KindFleet
	}
	return KindScenario
}

// fleetShape is the shape of fleet points' results: fleet.Summary, whose
// planner figures apply with order optimize only, and whose start order
// and per-VM results are the detail.
var fleetShape = newShape(reflect.TypeFor[fleet.Summary](), func(key string) bool { return key == "planner" }, "order", "vms")

// Fleet keys that are not sections, by their part of the file.
var (
	fleetTop      = []string{"name", "seed", "network", "hosts", "vms", "plan"}
	fleetPlanKeys = func() map[string]reflect.StructField {
		out := map[string]reflect.StructField{}
		t := reflect.TypeFor[fleet.Plan]()
		for _, k := range fleet.Keys() {
			key, ok := strings.CutPrefix(k.Key, "plan.")
			if !ok {
				continue
			}
			// plan.max_concurrent is Plan.MaxConcurrent.
			var name strings.Builder
			for _, w := range strings.Split(key, "_") {
				if w != "" {
					name.WriteString(strings.ToUpper(w[:1]) + w[1:])
				}
			}
			if f, ok := t.FieldByName(name.String()); ok {
				out[key] = f
			}
		}
		return out
	}()
)

// fleetKeyType returns the Go type of the dotted fleet key, as a fleet
// file or --set takes it: name, seed, network and network.KEY, hosts (a
// list), plan and plan.KEY, vms.NAME.count, .from, .to and .name, and
// vms.NAME.KEY for a scenario key KEY of the entry's VMs. An unknown key
// is an error saying what the fleet takes.
func fleetKeyType(key string) (reflect.Type, error) {
	segs := strings.SplitN(key, ".", 3)
	switch segs[0] {
	case "name":
		if len(segs) == 1 {
			return reflect.TypeFor[string](), nil
		}
	case "seed":
		if len(segs) == 1 {
			return reflect.TypeFor[uint64](), nil
		}
	case "network":
		return scenarios.Field(key)
	case "hosts":
		if len(segs) == 1 {
			return reflect.TypeFor[[]fleet.Host](), nil
		}
	case "plan":
		if len(segs) == 1 {
			return reflect.TypeFor[fleet.Plan](), nil
		}
		if f, ok := fleetPlanKeys[segs[1]]; ok && len(segs) == 2 {
			return f.Type, nil
		}
		var known []string // in the fleet's documentation order
		for _, k := range fleet.Keys() {
			if key, ok := strings.CutPrefix(k.Key, "plan."); ok {
				known = append(known, key)
			}
		}
		msg := "unknown plan key"
		if s := scenarios.Suggest(segs[1], known); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		return nil, fmt.Errorf("%s (want %s)", msg, strings.Join(known, ", "))
	case "vms":
		if len(segs) < 3 || segs[1] == "" {
			return nil, errors.New("sweep a VM entry's key: vms.NAME.KEY, e.g. vms.web.count or vms.web.model.downtime_limit")
		}
		switch segs[2] {
		case "count":
			return reflect.TypeFor[int](), nil
		case "from", "to", "name":
			return reflect.TypeFor[string](), nil
		}
		return scenarios.Field(segs[2])
	}
	msg := "unknown fleet key"
	if s := scenarios.Suggest(segs[0], fleetTop); s != "" && s != segs[0] {
		msg += " (did you mean " + s + "?)"
	}
	return nil, fmt.Errorf("%s (want %s, or vms.NAME.KEY)", msg, strings.Join(fleetTop, ", "))
}

// fleetValue returns the value of the dotted fleet key in f, and the key
// within a VM's scenario for vms.NAME.KEY (else ""); false when f has no
// such value.
func fleetValue(f *fleet.Spec, key string) (reflect.Value, string, bool) {
	segs := strings.SplitN(key, ".", 3)
	switch segs[0] {
	case "name":
		return reflect.ValueOf(f.Name), "", true
	case "seed":
		return reflect.ValueOf(f.Seed), "", true
	case "hosts":
		return reflect.ValueOf(f.Hosts), "", true
	case "network":
		if len(f.VMs) == 0 {
			return reflect.Value{}, "", false
		}
		v, ok := scenarios.Get(f.VMs[0].Spec, key)
		return v, key, ok
	case "plan":
		if len(segs) == 1 {
			return reflect.ValueOf(f.Plan), "", true
		}
		if pf, ok := fleetPlanKeys[segs[1]]; ok {
			return reflect.ValueOf(f.Plan).FieldByIndex(pf.Index), "", true
		}
	case "vms":
		if len(segs) < 3 {
			break
		}
		var vms []*fleet.VM
		for i := range f.VMs {
			if f.VMs[i].Group == segs[1] {
				vms = append(vms, &f.VMs[i])
			}
		}
		if len(vms) == 0 {
			break
		}
		switch segs[2] {
		case "count":
			return reflect.ValueOf(len(vms)), "", true
		case "from":
			return reflect.ValueOf(vms[0].From), "", true
		case "to":
			return reflect.ValueOf(vms[0].To), "", true
		}
		v, ok := scenarios.Get(vms[0].Spec, segs[2])
		return v, segs[2], ok
	}
	return reflect.Value{}, "", false
}

// fleetColumn returns the value of key in f typed for a result column,
// as columnValue does for a scenario.
func fleetColumn(f *fleet.Spec, key, set string) (any, ColumnType, string) {
	v, scenarioKey, ok := fleetValue(f, key)
	return typedColumn(v, ok, scenarioKey, set)
}

// fleetID hashes the resolved fleet: its name, seed, hosts, plan and
// every VM's name, group, hosts and resolved scenario.
func fleetID(f *fleet.Spec) (string, error) {
	type vm struct {
		Name, Group, From, To string
		Spec                  *scenarios.Spec
		Params                any
	}
	vms := make([]vm, len(f.VMs))
	for i, v := range f.VMs {
		vms[i] = vm{Name: v.Name, Group: v.Group, From: v.From, To: v.To, Spec: v.Spec, Params: v.Spec.Model.Params}
	}
	b, err := json.Marshal(struct {
		Name  string
		Seed  uint64
		Hosts []fleet.Host
		Plan  fleet.Plan
		VMs   []vm
	}{f.Name, f.Seed, f.Hosts, f.Plan, vms})
	if err != nil {
		return "", fmt.Errorf("hashing fleet: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}
