package validate

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/migsim/migsim/units"
)

// virsh records.
//
// A virsh record file holds the output of "virsh domjobinfo DOMAIN
// --completed" after a migration, one or more records one after another,
// each starting with its "Job type:" line; with --rawstats (libvirt 6.0+)
// too, whose "name: value" lines give libvirt's typed parameters exactly
// (memory_total: 8589934592) where the plain output rounds sizes to three
// decimals of their unit (Memory total: 8.000 GiB).
//
// Field names and units follow libvirt's tools/virsh-domain.c
// (cmdDomjobinfo) and the VIR_DOMAIN_JOB_* typed parameters of
// include/libvirt/libvirt-domain.h, which the QEMU driver fills from
// query-migrate:
//
//	Job type: Completed (3)         the record must be of a completed job
//	Operation: Outgoing migration   (or Incoming migration; 5 and 4)
//	Time elapsed (time_elapsed, ms)             total_time_s
//	Total downtime (downtime, ms)               downtime_s
//	Setup time (setup_time, ms)                 setup_time_s
//	Memory processed (memory_processed, bytes)  transferred_bytes (ram.transferred)
//	Memory total (memory_total, bytes)          vm.memory (ram.total)
//	Iteration (memory_iteration)                dirty_sync_count, rounds
//	Constant pages (memory_constant)            pages.zero, and zero_fraction
//	Normal pages (memory_normal)                pages.normal
//	Postcopy requests (memory_postcopy_requests) postcopy_requests; above 0: post-copy
//	Page size (memory_page_size, bytes)         vm.page_size
//	Dirty rate (memory_dirty_rate, pages/s)     dirty_rate fitted to it, when above 0
//	Compression cache (compression_cache, bytes) XBZRLE on, its cache size
//
// libvirt's times are its own clock: Time elapsed runs from the start of
// the migration job (the destination's start included), and Total
// downtime from the guest's stop to its resume on the destination, so
// both exceed QEMU's total-time and downtime. For a completed job QEMU no
// longer reports its dirty rate (virsh prints 0), and virsh never shows
// max-bandwidth, downtime-limit or multifd: those come from the mapping.

// virshField is one value of a virsh record.
type virshField struct {
	v     uint64
	line  int
	label string // as written, for messages
	exact bool   // false for a size virsh rounded to three decimals
}

// virshLabels maps the plain output's labels to the typed parameters'
// names, with the value's kind: "ms", "size", "rate" (bytes/s), "count",
// "pages/s", "bytes" (a count of bytes with the word "bytes").
var virshLabels = map[string]struct{ name, kind string }{
	"Time elapsed":             {"time_elapsed", "ms"},
	"Time elapsed w/o network": {"time_elapsed_net", "ms"},
	"Time remaining":           {"time_remaining", "ms"},
	"Data processed":           {"data_processed", "size"},
	"Data remaining":           {"data_remaining", "size"},
	"Data total":               {"data_total", "size"},
	"Memory processed":         {"memory_processed", "size"},
	"Memory remaining":         {"memory_remaining", "size"},
	"Memory total":             {"memory_total", "size"},
	"Memory bandwidth":         {"memory_bps", "rate"},
	"Dirty rate":               {"memory_dirty_rate", "pages/s"},
	"Page size":                {"memory_page_size", "bytes"},
	"Iteration":                {"memory_iteration", "count"},
	"Postcopy requests":        {"memory_postcopy_requests", "count"},
	"Constant pages":           {"memory_constant", "count"},
	"Normal pages":             {"memory_normal", "count"},
	"Normal data":              {"memory_normal_bytes", "size"},
	"Total downtime":           {"downtime", "ms"},
	"Downtime w/o network":     {"downtime_net", "ms"},
	"Setup time":               {"setup_time", "ms"},
	"Compression cache":        {"compression_cache", "size"},
	"Compressed data":          {"compression_bytes", "size"},
	"Compressed pages":         {"compression_pages", "count"},
	"Compression cache misses": {"compression_cache_misses", "count"},
	"Compression overflows":    {"compression_overflow", "count"},
	"Auto converge throttle":   {"auto_converge_throttle", "count"},
}

// virshJobTypes are the Job type names (virsh) and numbers (--rawstats).
var virshJobTypes = map[string]string{
	"None": "none", "Bounded": "bounded", "Unbounded": "unbounded", "Completed": "completed", "Failed": "failed", "Cancelled": "cancelled",
	"0": "none", "1": "bounded", "2": "unbounded", "3": "completed", "4": "failed", "5": "cancelled",
}

// virshRecord is one record's lines.
type virshRecord struct {
	line   int // the Job type line
	raw    bool
	job    string
	op     string
	fields map[string]virshField
	errmsg string
}

// parseVirshRecords reads a virsh record file (see the comment at the top
// of this file).
func parseVirshRecords(path string, data []byte) ([]*fieldRecord, []error) {
	var recs []*virshRecord
	var errs []error
	var cur *virshRecord
	for i, ln := range strings.Split(string(data), "\n") {
		line := i + 1
		text := strings.TrimSpace(ln)
		if text == "" {
			continue
		}
		label, value, ok := strings.Cut(text, ":")
		label, value = strings.TrimSpace(label), strings.TrimSpace(value)
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: %q: want \"Label: value\" lines of virsh domjobinfo --completed", path, line, text))
			continue
		}
		if label == "Job type" {
			job, known := virshJobTypes[value]
			if !known {
				errs = append(errs, fmt.Errorf("%s:%d: Job type: %q: want Completed (or 3 with --rawstats)", path, line, value))
				job = "unknown"
			}
			cur = &virshRecord{line: line, job: job, fields: map[string]virshField{}}
			cur.raw = value != "" && value[0] >= '0' && value[0] <= '9'
			recs = append(recs, cur)
			continue
		}
		if cur == nil {
			errs = append(errs, fmt.Errorf("%s:%d: %q before any \"Job type:\" line: want virsh domjobinfo --completed output", path, line, label))
			continue
		}
		if err := cur.add(label, value, line); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, line, err))
		}
	}
	if len(recs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no \"Job type:\" line: want virsh domjobinfo --completed output", path))
	}
	var out []*fieldRecord
	for k, v := range recs {
		r, err := v.record(path, k, len(recs))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errs
}

// add parses one "label: value" line of a record.
func (v *virshRecord) add(label, value string, line int) error {
	if v.raw {
		switch label {
		case "operation":
			v.op = value
			return nil
		case "errmsg":
			v.errmsg = value
			return nil
		}
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			// A typed parameter migsim does not read (a double, a string).
			return nil
		}
		v.fields[label] = virshField{v: n, line: line, label: label, exact: true}
		return nil
	}
	switch label {
	case "Operation":
		v.op = value
		return nil
	case "Error message":
		v.errmsg = value
		return nil
	}
	spec, known := virshLabels[label]
	if !known {
		return nil // a line migsim does not read (disk, temporary space, VFIO…)
	}
	f := virshField{line: line, label: label, exact: true}
	var err error
	switch spec.kind {
	case "ms":
		f.v, err = virshNumber(value, "ms")
	case "pages/s":
		f.v, err = virshNumber(value, "pages/s")
	case "bytes":
		f.v, err = virshNumber(value, "bytes")
	case "count":
		f.v, err = virshNumber(value, "")
	case "size", "rate":
		f.v, f.exact, err = virshSize(value, spec.kind == "rate")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	v.fields[spec.name] = f
	return nil
}

// virshNumber parses "12345 ms"-like values: an integer and unit (or none).
func virshNumber(s, unit string) (uint64, error) {
	num, u, _ := strings.Cut(s, " ")
	u = strings.TrimSpace(u)
	if u != unit {
		if unit == "" {
			return 0, fmt.Errorf("%q: want a whole number", s)
		}
		return 0, fmt.Errorf("%q: want a whole number of %s, e.g. 42 %s", s, unit, unit)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a whole number", s)
	}
	return n, nil
}

// virshSize parses virsh's sizes and rates, "%.3lf %s" with the binary
// units of vshPrettyCapacity (B, KiB … EiB; "/s" after a rate's). exact
// is false when three decimals of the unit may have rounded the value.
func virshSize(s string, rate bool) (uint64, bool, error) {
	num, unit, ok := strings.Cut(s, " ")
	want := "e.g. 8.000 GiB"
	if rate {
		want = "e.g. 117.000 MiB/s"
	}
	unit = strings.TrimSpace(unit)
	if rate {
		var cut bool
		unit, cut = strings.CutSuffix(unit, "/s")
		ok = ok && cut
	}
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || mult == 0 || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false, fmt.Errorf("%q: want a size with its unit, %s", s, want)
	}
	b := math.Round(v * mult)
	return uint64(b), mult == 1, nil
}

// record turns a virsh record into a field record; k of n is its place in
// the file.
func (v *virshRecord) record(path string, k, n int) (*fieldRecord, error) {
	r := &fieldRecord{format: FormatVirsh, file: path, line: v.line, vm: fileStem(path), name: fileStem(path)}
	if n > 1 {
		r.name = fmt.Sprintf("%s-%d", r.name, k+1)
	}
	switch v.job {
	case "completed":
	case "failed", "cancelled":
		msg := v.job
		if v.errmsg != "" {
			msg += ": " + v.errmsg
		}
		return nil, fmt.Errorf("%s:%d: Job type: the job %s: %w", path, v.line, msg, ErrIncompleteMigration)
	case "none":
		return nil, fmt.Errorf("%s:%d: Job type: None: no statistics (run virsh domjobinfo DOMAIN --completed on the source right after the migration)", path, v.line)
	case "bounded", "unbounded":
		return nil, fmt.Errorf("%s:%d: Job type: the job is still running: %w (want the output of domjobinfo --completed)", path, v.line, ErrIncompleteMigration)
	default:
		return nil, fmt.Errorf("%s:%d: Job type: unknown", path, v.line)
	}
	switch v.op {
	case "", "Outgoing migration", "Incoming migration", "5", "4":
	default:
		return nil, fmt.Errorf("%s:%d: Operation: %q is not a migration (want Outgoing migration)", path, v.line, v.op)
	}
	need := func(name, label string) (virshField, error) {
		f, ok := v.fields[name]
		if !ok {
			if v.raw {
				label = name
			}
			return f, fmt.Errorf("%s:%d: no %q line: a completed migration's domjobinfo has one", path, v.line, label)
		}
		return f, nil
	}
	elapsed, err := need("time_elapsed", "Time elapsed")
	if err != nil {
		return nil, err
	}
	down, err := need("downtime", "Total downtime")
	if err != nil {
		return nil, err
	}
	processed, err := need("memory_processed", "Memory processed")
	if err != nil {
		return nil, err
	}
	total, err := need("memory_total", "Memory total")
	if err != nil {
		return nil, err
	}
	m := &r.metrics
	m.TotalTimeS = float64(elapsed.v) / 1000
	m.DowntimeS = float64(down.v) / 1000
	m.TransferredBytes = processed.v
	r.measured = []string{"total_time_s", "downtime_s"}
	if f, ok := v.fields["setup_time"]; ok {
		m.SetupTimeS = float64(f.v) / 1000
		r.measured = append(r.measured, "setup_time_s")
	}
	r.measured = append(r.measured, "transferred_bytes")
	if f, ok := v.fields["memory_iteration"]; ok {
		m.Rounds, m.DirtySyncCount = int(f.v), int(f.v)
		r.measured = append(r.measured, "rounds", "dirty_sync_count")
	}
	ps := uint64(4096)
	if f, ok := v.fields["memory_page_size"]; ok {
		if f.v == 0 {
			return nil, fmt.Errorf("%s:%d: %s: 0: want the page size in bytes", path, f.line, f.label)
		}
		ps = f.v
		r.fact("vm.page_size", units.Bytes(ps).String(), f.label)
	}
	if f, ok := v.fields["memory_constant"]; ok {
		m.Pages.Zero = f.v
		r.measured = append(r.measured, "pages.zero")
	}
	if f, ok := v.fields["memory_normal"]; ok {
		m.Pages.Normal = f.v
		r.measured = append(r.measured, "pages.normal")
	}
	if f, ok := v.fields["memory_bps"]; ok {
		m.BandwidthBps = float64(f.v) * 8
	}
	if f, ok := v.fields["auto_converge_throttle"]; ok {
		m.ThrottlePct = float64(f.v)
	}
	reqs, hasReqs := v.fields["memory_postcopy_requests"]
	r.postcopy = hasReqs && reqs.v > 0
	if r.postcopy {
		m.PostcopyRequests = reqs.v
		r.measured = append(r.measured, "postcopy_requests")
	}

	// Facts.
	mem := total.v
	from := total.label
	if !total.exact {
		if rounded := (mem + ps/2) / ps * ps; rounded != mem {
			mem = rounded
			from += " (printed to three decimals; rounded to whole pages: give vm.memory or use --rawstats for the exact size)"
		}
	}
	if mem == 0 || mem%ps != 0 {
		return nil, fmt.Errorf("%s:%d: %s: %d bytes: want a positive whole number of %d-byte pages", path, total.line, total.label, mem, ps)
	}
	r.fact("vm.memory", units.Bytes(mem).String(), from)
	m.Pages.Total = mem / ps
	if f, ok := v.fields["memory_constant"]; ok && m.Pages.Total > 0 {
		if f.v > m.Pages.Total {
			return nil, fmt.Errorf("%s:%d: %s: %d exceeds the %d pages of memory", path, f.line, f.label, f.v, m.Pages.Total)
		}
		r.fact("workload.generator.zero_fraction", strconv.FormatFloat(float64(f.v)/float64(m.Pages.Total), 'f', -1, 64), f.label+" / pages")
	}
	if f, ok := v.fields["memory_dirty_rate"]; ok && f.v > 0 {
		r.dirtyRate, r.rateTarget = float64(f.v), float64(f.v)
		m.DirtyPagesRate = float64(f.v)
		r.fact("workload.generator.dirty_rate", strconv.FormatUint(f.v, 10), f.label)
	} else {
		r.lacks("workload.generator.dirty_rate", "QEMU no longer reports its dirty rate once the migration completed, so virsh prints 0")
	}
	if r.postcopy {
		r.fact("model.name", "hybrid", reqs.label+" above 0")
		r.lacks("model.precopy_rounds", fmt.Sprintf("virsh does not say when the migration switched to post-copy (Iteration: %d in all)", m.DirtySyncCount))
	} else {
		r.fact("model.name", "precopy", "no post-copy requests")
	}
	if _, ok := v.fields["auto_converge_throttle"]; ok {
		r.fact("model.auto_converge", "true", "Auto converge throttle present")
	} else {
		r.lacks("model.auto_converge", "virsh shows auto-converge only while QEMU throttles, never once completed")
	}
	if f, ok := v.fields["compression_cache"]; ok {
		r.fact("model.xbzrle.enabled", "true", f.label+" present")
		r.fact("model.xbzrle.cache_size", units.Bytes(f.v).String(), f.label)
	} else {
		r.fact("model.xbzrle.enabled", "false", "no compression cache (XBZRLE)")
	}
	r.lacks("model.multifd.channels", "virsh domjobinfo does not show multifd")
	r.lacks("model.max_bandwidth", "virsh domjobinfo does not show it; virsh migrate-getspeed does")
	r.lacks("model.downtime_limit", "virsh domjobinfo does not show it; virsh migrate-getmaxdowntime does")
	r.notes = append(r.notes, "total_time_s and downtime_s are libvirt's (job start to end, guest stop to resume on the destination), longer than QEMU's own")
	return r, nil
}
