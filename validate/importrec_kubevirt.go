package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/units"
)

// KubeVirt records.
//
// A KubeVirt record file holds, as YAML or JSON ("kubectl get vmim NAME
// -o yaml"), one or more objects, as separate documents or the items of a
// List: VirtualMachineInstanceMigration objects whose status holds
// migrationState (KubeVirt 1.1+), or VirtualMachineInstance objects, whose
// status.migrationState is their last migration's. Field names follow
// kubevirt.io/api/core/v1 (types.go): VirtualMachineInstanceMigrationStatus
// {phase, migrationState}, VirtualMachineInstanceMigrationState
// {startTimestamp, endTimestamp, completed, failed, failureReason, mode,
// migrationConfiguration}, MigrationConfiguration {bandwidthPerMigration,
// allowAutoConverge, allowPostCopy, …}.
//
// What a record gives:
//
//   - total_time_s, endTimestamp − startTimestamp: KubeVirt's clock, from
//     the start of the migration in the source's virt-launcher (libvirt's
//     preparation of the target included) to its end, at the timestamps'
//     resolution (whole seconds, so ±1 s); no other metric;
//   - model.name: hybrid for mode PostCopy (KubeVirt switched when its
//     completion timeout ran out; migsim switches after
//     model.precopy_rounds, which the mapping gives), precopy for PreCopy;
//   - model.max_bandwidth from bandwidthPerMigration (a quantity of bytes
//     per second, which KubeVirt hands to libvirt in whole MiB/s, 0 for no
//     limit) and model.auto_converge from allowAutoConverge;
//   - vm.memory from a VirtualMachineInstance's spec.domain.memory.guest
//     (else resources.requests.memory); a VirtualMachineInstanceMigration
//     does not hold it.
//
// The dirty rate, the working set, the link, the downtime limit and
// multifd come from the mapping.

// kubeObject is the part of a KubeVirt object the import reads.
type kubeObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		VMIName string `yaml:"vmiName"`
		Domain  struct {
			Memory struct {
				Guest string `yaml:"guest"`
			} `yaml:"memory"`
			Resources struct {
				Requests map[string]string `yaml:"requests"`
			} `yaml:"resources"`
		} `yaml:"domain"`
	} `yaml:"spec"`
	Status struct {
		Phase          string           `yaml:"phase"`
		MigrationState *kubeMigrationSt `yaml:"migrationState"`
	} `yaml:"status"`
	Items []yaml.Node `yaml:"items"`
}

// kubeMigrationSt is VirtualMachineInstanceMigrationState.
type kubeMigrationSt struct {
	StartTimestamp string `yaml:"startTimestamp"`
	EndTimestamp   string `yaml:"endTimestamp"`
	Completed      bool   `yaml:"completed"`
	Failed         bool   `yaml:"failed"`
	FailureReason  string `yaml:"failureReason"`
	Mode           string `yaml:"mode"`
	Config         *struct {
		AllowAutoConverge     *bool     `yaml:"allowAutoConverge"`
		AllowPostCopy         *bool     `yaml:"allowPostCopy"`
		BandwidthPerMigration yaml.Node `yaml:"bandwidthPerMigration"`
	} `yaml:"migrationConfiguration"`
}

// parseKubeVirtRecords reads a KubeVirt record file (see the comment at
// the top of this file).
func parseKubeVirtRecords(path string, data []byte) ([]*fieldRecord, []error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var nodes []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, []error{fmt.Errorf("%s: %w", path, err)}
		}
		if len(doc.Content) > 0 {
			nodes = append(nodes, doc.Content[0])
		}
	}
	var recs []*fieldRecord
	var errs []error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		var o kubeObject
		if err := n.Decode(&o); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, n.Line, err))
			return
		}
		switch o.Kind {
		case "List", "VirtualMachineInstanceMigrationList", "VirtualMachineInstanceList":
			for i := range o.Items {
				walk(&o.Items[i])
			}
			return
		case "VirtualMachineInstanceMigration", "VirtualMachineInstance":
		default:
			errs = append(errs, fmt.Errorf("%s:%d: kind %q: want VirtualMachineInstanceMigration, VirtualMachineInstance or a List of them", path, n.Line, o.Kind))
			return
		}
		r, err := kubeRecord(path, n, &o)
		if err != nil {
			errs = append(errs, err)
			return
		}
		recs = append(recs, r)
	}
	for _, n := range nodes {
		walk(n)
	}
	if len(nodes) == 0 {
		errs = append(errs, fmt.Errorf("%s: no object: want a KubeVirt VirtualMachineInstanceMigration", path))
	}
	return recs, errs
}

// kubeRecord turns one object into a field record.
func kubeRecord(path string, n *yaml.Node, o *kubeObject) (*fieldRecord, error) {
	line := n.Line
	if st := findNode(n, "status", "migrationState"); st != nil {
		line = st.Line
	}
	ms := o.Status.MigrationState
	name := o.Metadata.Name
	vm := o.Spec.VMIName
	if o.Kind == "VirtualMachineInstance" {
		vm = name
	}
	if vm == "" {
		vm = name
	}
	if ms == nil {
		return nil, fmt.Errorf("%s:%d: %s %q: status.migrationState: missing (KubeVirt 1.1+ copies it into the migration's status; or give the VirtualMachineInstance): %w", path, n.Line, o.Kind, name, ErrIncompleteMigration)
	}
	switch {
	case ms.Failed:
		why := "failed"
		if ms.FailureReason != "" {
			why += ": " + ms.FailureReason
		}
		return nil, fmt.Errorf("%s:%d: %s %q: migrationState: the migration %s: %w", path, line, o.Kind, name, why, ErrIncompleteMigration)
	case !ms.Completed:
		return nil, fmt.Errorf("%s:%d: %s %q: migrationState.completed is not true: %w (want a completed migration)", path, line, o.Kind, name, ErrIncompleteMigration)
	}
	at := func(field string) int {
		if f := findNode(n, "status", "migrationState", field); f != nil {
			return f.Line
		}
		return line
	}
	start, startWhole, err := kubeTime(ms.StartTimestamp)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: migrationState.startTimestamp: %w", path, at("startTimestamp"), err)
	}
	end, endWhole, err := kubeTime(ms.EndTimestamp)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: migrationState.endTimestamp: %w", path, at("endTimestamp"), err)
	}
	d := end.Sub(start)
	if d <= 0 {
		return nil, fmt.Errorf("%s:%d: migrationState.endTimestamp %s is not after startTimestamp %s: the timestamps cannot time this migration", path, at("endTimestamp"), ms.EndTimestamp, ms.StartTimestamp)
	}
	r := &fieldRecord{format: FormatKubeVirt, file: path, line: line, vm: vm, name: name}
	r.metrics.TotalTimeS = d.Seconds()
	r.measured = []string{"total_time_s"}
	if startWhole || endWhole {
		r.notes = append(r.notes, "total_time_s is endTimestamp − startTimestamp, timestamps of whole seconds: ±1 s")
	}

	switch ms.Mode {
	case "PostCopy":
		r.postcopy = true
		r.fact("model.name", "hybrid", "migrationState.mode PostCopy")
		r.lacks("model.precopy_rounds", "KubeVirt switches to post-copy when its completion timeout runs out, not after a number of rounds")
	case "PreCopy":
		r.fact("model.name", "precopy", "migrationState.mode PreCopy")
	case "":
		r.fact("model.name", "precopy", "no migrationState.mode (KubeVirt before post-copy)")
	default:
		return nil, fmt.Errorf("%s:%d: migrationState.mode %q: want PreCopy or PostCopy", path, at("mode"), ms.Mode)
	}
	r.lacks("model.multifd.channels", "migrationState does not say")
	if c := ms.Config; c != nil {
		cfgLine := func(field string) int {
			if f := findNode(n, "status", "migrationState", "migrationConfiguration", field); f != nil {
				return f.Line
			}
			return line
		}
		if c.BandwidthPerMigration.Kind != 0 {
			b, err := parseQuantity(c.BandwidthPerMigration.Value)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: migrationConfiguration.bandwidthPerMigration: %w", path, cfgLine("bandwidthPerMigration"), err)
			}
			// KubeVirt hands libvirt whole MiB/s (QuantityToMebiByte):
			// rounded, at least 1 unless 0.
			mib := uint64(0)
			if b > 0 {
				mib = max(1, uint64(b/(1<<20)+0.5))
			}
			r.fact("model.max_bandwidth", formatByteRate(mib<<20), fmt.Sprintf("migrationConfiguration.bandwidthPerMigration %s", c.BandwidthPerMigration.Value))
		} else {
			r.lacks("model.max_bandwidth", "migrationConfiguration has no bandwidthPerMigration")
		}
		if c.AllowAutoConverge != nil {
			r.fact("model.auto_converge", strconv.FormatBool(*c.AllowAutoConverge), "migrationConfiguration.allowAutoConverge")
		} else {
			r.lacks("model.auto_converge", "migrationConfiguration has no allowAutoConverge")
		}
	} else {
		r.lacks("model.max_bandwidth", "migrationState has no migrationConfiguration (KubeVirt before 0.59)")
		r.lacks("model.auto_converge", "migrationState has no migrationConfiguration (KubeVirt before 0.59)")
	}
	if o.Kind == "VirtualMachineInstance" {
		q, field := o.Spec.Domain.Memory.Guest, "spec.domain.memory.guest"
		if q == "" {
			q, field = o.Spec.Domain.Resources.Requests["memory"], "spec.domain.resources.requests.memory"
		}
		if q != "" {
			b, err := parseQuantity(q)
			if err != nil || b != math.Trunc(b) || b <= 0 {
				if err == nil {
					err = errors.New("want a positive whole number of bytes")
				}
				return nil, fmt.Errorf("%s:%d: %s: %w", path, n.Line, field, err)
			}
			r.fact("vm.memory", units.Bytes(int64(b)).String(), field+" (guest RAM; QEMU also migrates a little device RAM)")
		} else {
			r.lacks("vm.memory", "the VirtualMachineInstance gives neither spec.domain.memory.guest nor resources.requests.memory")
		}
	} else {
		r.lacks("vm.memory", "a VirtualMachineInstanceMigration does not hold the VM's memory; its VirtualMachineInstance does (spec.domain.memory.guest)")
	}
	r.lacks("workload.generator.dirty_rate", "KubeVirt records no dirty rate")
	r.lacks("model.downtime_limit", "migrationState does not hold it")
	return r, nil
}

// kubeTime parses a Kubernetes timestamp (RFC 3339, metav1.Time); whole
// is true when it has no fraction of a second.
func kubeTime(s string) (time.Time, bool, error) {
	if s == "" {
		return time.Time{}, false, errors.New("missing (want an RFC 3339 time such as 2024-05-01T10:00:03Z)")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, false, fmt.Errorf("%q: want an RFC 3339 time such as 2024-05-01T10:00:03Z", s)
	}
	return t, !strings.Contains(s, "."), nil
}

// findNode follows mapping keys from n; nil when a key is missing.
func findNode(n *yaml.Node, keys ...string) *yaml.Node {
	for j, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				if j == len(keys)-1 {
					next = n.Content[i] // the last key itself, for its line
				}
				break
			}
		}
		n = next
	}
	return n
}

// quantityRE is a Kubernetes resource.Quantity: a number and a binary
// (Ki…Ei), decimal (n, u, m, k, M…E) or exponent suffix.
var quantityRE = regexp.MustCompile(`^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

// parseQuantity parses a Kubernetes quantity ("64Mi", "1G", "0",
// "1.5e9"), returning its value; negative quantities are an error.
func parseQuantity(s string) (float64, error) {
	m := quantityRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q: want a Kubernetes quantity such as 64Mi, 1Gi or 0", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a Kubernetes quantity such as 64Mi", s)
	}
	mult := map[string]float64{
		"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
		"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
	}
	f, ok := mult[m[2]]
	if !ok { // an exponent
		e, _ := strconv.Atoi(m[2][1:])
		f = math.Pow(10, float64(e))
	}
	v *= f
	if v < 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q: want a non-negative quantity", s)
	}
	return math.Round(v*1e6) / 1e6, nil
}
