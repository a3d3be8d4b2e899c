package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/units"
)

// QMP records.
//
// A QMP record file holds JSON values, one after another (JSON lines, a
// JSON array, or values separated by white space), each one of:
//
//   - a query-migrate reply, {"return": {"status": ...}} or the bare
//     MigrationInfo object: the final reply of a completed migration, or
//     replies polled during it and ending with the completed one;
//   - a query-migrate-parameters reply ({"return": {"max-bandwidth": ...}})
//     or a query-migrate-capabilities reply ({"return": [{"capability":
//     ..., "state": ...}]}): the settings of the migrations after it in
//     the file;
//   - an object bundling them, {"query-migrate": reply or list of polled
//     replies, "query-migrate-parameters": reply, "query-migrate-
//     capabilities": reply};
//   - a lab run as "migsim validate run|suite --json" writes it ("real"
//     of a comparison: final_query_migrate, series).
//
// QMP greetings, events and empty replies (to qmp_capabilities, migrate)
// in the stream are skipped. Replies are grouped
// into migrations: a migration ends with its completed replies (QEMU can
// answer completed before its figures settle: the last one counts), and a
// reply that is not completed after those starts the next. A migration
// that failed, was cancelled or never completed is an
// [ErrIncompleteMigration].
//
// What a record gives (QEMU's QAPI MigrationInfo and MigrationStats, in
// qapi/migration.json):
//
//   - the metrics of the lab (see [lab.RealMetrics]), from the final reply;
//     bandwidth_bps only where ram.downtime-bytes is present (QEMU 7.0+),
//     the post-copy ones where the migration switched to post-copy, and
//     stall_time_s only from a destination's reply (postcopy-blocktime);
//   - vm.memory (ram.total: all the RAM QEMU migrates), vm.page_size
//     (ram.page-size) and workload.generator.zero_fraction (ram.duplicate
//     over the pages: the pages QEMU found zero);
//   - workload.generator.dirty_rate from polled replies only: QEMU reports
//     ram.dirty-pages-rate while active, not once completed; the mean of
//     the distinct values polled while active and unthrottled, which the
//     import then replaces by the rate fitted to the last of them
//     ([fitDirtyRate]);
//   - model.name: hybrid where the migration switched to post-copy (a
//     postcopy-active poll, or ram.postcopy-bytes or postcopy-requests
//     above 0), else precopy;
//   - model.auto_converge true where a poll carries
//     cpu-throttle-percentage (QEMU reports it only while throttling);
//     model.multifd.channels 0 where ram.multifd-bytes is 0; XBZRLE on,
//     with its cache size, where xbzrle-cache is present (off where it is
//     absent);
//   - from the parameters and capabilities replies, when given:
//     max-bandwidth, downtime-limit, multifd-channels and
//     multifd-compression, xbzrle-cache-size, the auto-converge throttle
//     steps, max-postcopy-bandwidth, and the auto-converge, multifd,
//     xbzrle and postcopy-preempt capabilities.

// jsonValue is one JSON value of a file and the line it starts on.
type jsonValue struct {
	raw  json.RawMessage
	line int
}

// jsonValues splits data into its top-level JSON values, the elements of
// a top-level array taken one by one.
func jsonValues(path string, data []byte) ([]jsonValue, error) {
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:off], []byte("\n")) }
	start := func(off int64) int64 {
		for off < int64(len(data)) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r' || data[off] == ',') {
			off++
		}
		return off
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []jsonValue
	for {
		off := start(dec.InputOffset())
		if off >= int64(len(data)) {
			return out, nil
		}
		if data[off] == '[' {
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, lineAt(off), err)
			}
			for dec.More() {
				eoff := start(dec.InputOffset())
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil, fmt.Errorf("%s:%d: %w", path, lineAt(eoff), err)
				}
				out = append(out, jsonValue{raw, lineAt(eoff)})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, lineAt(start(dec.InputOffset())), err)
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s:%d: not JSON (want QMP replies): %w", path, lineAt(off), err)
		}
		out = append(out, jsonValue{raw, lineAt(off)})
	}
}

// qmpReply is one query-migrate reply, decoded and raw.
type qmpReply struct {
	info lab.QueryMigrate
	raw  json.RawMessage
	keys map[string]json.RawMessage // the reply's members, to tell absent from 0
	ram  map[string]json.RawMessage
	line int
}

// qmpSettings are the settings parameters and capabilities replies gave.
type qmpSettings struct {
	params map[string]json.RawMessage
	caps   map[string]bool
	line   int // where they were given (the later reply's line)
}

// qmpMigration is one migration's replies and settings.
type qmpMigration struct {
	replies  []qmpReply
	settings qmpSettings
	lab      *lab.RealRun // a lab run object: its own samples
}

// parseQMPRecords reads a QMP record file (see the comment at the top of
// this file).
func parseQMPRecords(path string, data []byte) ([]*fieldRecord, []error) {
	vals, err := jsonValues(path, data)
	if err != nil {
		return nil, []error{err}
	}
	var migs []qmpMigration
	var errs []error
	var cur qmpMigration
	var settings qmpSettings
	flush := func() {
		if len(cur.replies) > 0 {
			migs = append(migs, cur)
		}
		cur = qmpMigration{settings: settings}
	}
	cur.settings = settings
	for _, v := range vals {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v.raw, &obj); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: want a JSON object (a QMP reply), got %s", path, v.line, clip(v.raw, 60)))
			continue
		}
		switch {
		case obj["QMP"] != nil, obj["event"] != nil:
			continue // greeting, event
		case obj["error"] != nil:
			errs = append(errs, fmt.Errorf("%s:%d: a QMP error reply %s: want query-migrate replies", path, v.line, clip(obj["error"], 120)))
			continue
		case obj["final_query_migrate"] != nil:
			flush()
			var run lab.RealRun
			if err := json.Unmarshal(v.raw, &run); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: a lab run: %w", path, v.line, err))
				continue
			}
			rep, err := decodeReply(run.Final, v.line)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: final_query_migrate: %w", path, v.line, err))
				continue
			}
			migs = append(migs, qmpMigration{replies: []qmpReply{rep}, settings: settings, lab: &run})
			continue
		case obj["query-migrate"] != nil:
			flush()
			m, err := qmpBundle(path, v.line, obj, settings)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			migs = append(migs, m)
			continue
		}
		body := v.raw
		if r, ok := obj["return"]; ok {
			body = r
		}
		kind, err := qmpKind(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, v.line, err))
			continue
		}
		switch kind {
		case "empty":
			continue // the reply to another command (qmp_capabilities, migrate)
		case "params", "caps":
			settings, err = settings.with(kind, body, v.line)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", path, v.line, err))
			}
			if n := len(cur.replies); n == 0 || cur.replies[n-1].info.Status != "completed" {
				cur.settings = settings // this migration's, or the next one's
			}
			continue
		}
		rep, err := decodeReply(body, v.line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: query-migrate: %w", path, v.line, err))
			continue
		}
		switch rep.info.Status {
		case "none", "":
			continue // no migration yet
		}
		if n := len(cur.replies); n > 0 {
			last := cur.replies[n-1]
			if last.info.Status == "completed" && rep.info.Status != "completed" ||
				(last.info.Status == "completed" && rep.info.Status == "completed" && last.info.TotalTime != nil && rep.info.TotalTime != nil && *rep.info.TotalTime < *last.info.TotalTime) ||
				endedBadly(last.info.Status) {
				flush()
			}
		}
		cur.replies = append(cur.replies, rep)
	}
	flush()

	var recs []*fieldRecord
	for i, m := range migs {
		r, err := m.record(path, i, len(migs))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, r)
	}
	return recs, errs
}

// endedBadly reports a status after which QEMU runs no more of the same
// migration.
func endedBadly(status string) bool {
	return status == "failed" || status == "cancelled"
}

// qmpBundle reads an object bundling a migration's replies.
func qmpBundle(path string, line int, obj map[string]json.RawMessage, settings qmpSettings) (qmpMigration, error) {
	m := qmpMigration{settings: settings}
	for k := range obj {
		switch k {
		case "query-migrate", "query-migrate-parameters", "query-migrate-capabilities":
		default:
			return m, fmt.Errorf("%s:%d: %s: unknown member of a bundle (want query-migrate, query-migrate-parameters, query-migrate-capabilities)", path, line, k)
		}
	}
	for _, k := range []string{"query-migrate-parameters", "query-migrate-capabilities"} {
		raw, ok := obj[k]
		if !ok {
			continue
		}
		body := unwrapReturn(raw)
		kind, err := qmpKind(body)
		want := map[string]string{"query-migrate-parameters": "params", "query-migrate-capabilities": "caps"}[k]
		if err != nil || kind != want {
			return m, fmt.Errorf("%s:%d: %s: not a %s reply", path, line, k, k)
		}
		if m.settings, err = m.settings.with(kind, body, line); err != nil {
			return m, fmt.Errorf("%s:%d: %s: %w", path, line, k, err)
		}
	}
	raw := bytes.TrimSpace(obj["query-migrate"])
	var list []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return m, fmt.Errorf("%s:%d: query-migrate: %w", path, line, err)
		}
	} else {
		list = []json.RawMessage{raw}
	}
	for i, r := range list {
		rep, err := decodeReply(unwrapReturn(r), line)
		if err != nil {
			return m, fmt.Errorf("%s:%d: query-migrate[%d]: %w", path, line, i, err)
		}
		m.replies = append(m.replies, rep)
	}
	return m, nil
}

// unwrapReturn returns a reply's return member, or raw itself when it has
// none.
func unwrapReturn(raw json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if r, ok := obj["return"]; ok {
			return r
		}
	}
	return raw
}

// qmpKind tells what a reply's body is: "migrate" (query-migrate),
// "params" (query-migrate-parameters), "caps"
// (query-migrate-capabilities) or "empty" (another command's {}).
func qmpKind(body json.RawMessage) (string, error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var caps []struct {
			Capability *string `json:"capability"`
			State      *bool   `json:"state"`
		}
		if err := json.Unmarshal(body, &caps); err == nil && len(caps) > 0 && caps[0].Capability != nil && caps[0].State != nil {
			return "caps", nil
		}
		return "", fmt.Errorf("want a query-migrate reply, got a list %s", clip(body, 60))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return "", fmt.Errorf("want a query-migrate reply (an object with status), got %s", clip(body, 60))
	}
	switch {
	case obj["status"] != nil:
		return "migrate", nil
	case obj["max-bandwidth"] != nil || obj["downtime-limit"] != nil:
		return "params", nil
	case len(obj) == 0:
		return "empty", nil
	}
	return "", fmt.Errorf("want a query-migrate reply (an object with status), got %s", clip(body, 60))
}

// with returns s updated by a parameters or capabilities reply.
func (s qmpSettings) with(kind string, body json.RawMessage, line int) (qmpSettings, error) {
	out := qmpSettings{params: map[string]json.RawMessage{}, caps: map[string]bool{}, line: line}
	for k, v := range s.params {
		out.params[k] = v
	}
	for k, v := range s.caps {
		out.caps[k] = v
	}
	if kind == "params" {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(body, &p); err != nil {
			return s, err
		}
		for k, v := range p {
			out.params[k] = v
		}
		return out, nil
	}
	var caps []struct {
		Capability string `json:"capability"`
		State      bool   `json:"state"`
	}
	if err := json.Unmarshal(body, &caps); err != nil {
		return s, err
	}
	for _, c := range caps {
		out.caps[c.Capability] = c.State
	}
	return out, nil
}

// param reads a numeric migration parameter; ok is false when absent.
func (s qmpSettings) param(name string) (v uint64, ok bool, err error) {
	raw, ok := s.params[name]
	if !ok {
		return 0, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, true, fmt.Errorf("query-migrate-parameters %s: want a non-negative integer, got %s", name, clip(raw, 40))
	}
	return v, true, nil
}

// decodeReply decodes a query-migrate reply's body.
func decodeReply(body json.RawMessage, line int) (qmpReply, error) {
	r := qmpReply{raw: body, line: line}
	if err := json.Unmarshal(body, &r.info); err != nil {
		return r, fmt.Errorf("not a query-migrate reply: %w", err)
	}
	if err := json.Unmarshal(body, &r.keys); err != nil {
		return r, err
	}
	if raw, ok := r.keys["ram"]; ok {
		if err := json.Unmarshal(raw, &r.ram); err != nil {
			return r, fmt.Errorf("ram: %w", err)
		}
	}
	return r, nil
}

// record turns one migration's replies into a field record; i of n is the
// migration's place in its file.
func (m qmpMigration) record(path string, i, n int) (*fieldRecord, error) {
	first := m.replies[0]
	last := m.replies[len(m.replies)-1]
	r := &fieldRecord{format: FormatQMP, file: path, line: first.line, vm: fileStem(path), name: fileStem(path)}
	if n > 1 {
		r.name = fmt.Sprintf("%s-%d", r.name, i+1)
	}
	if last.info.Status != "completed" {
		what := "still " + last.info.Status + " at the end of the file"
		if endedBadly(last.info.Status) {
			what = last.info.Status
			if last.info.ErrorDesc != "" {
				what += ": " + last.info.ErrorDesc
			}
		}
		return nil, fmt.Errorf("%s:%d: query-migrate: the migration is %s: %w (want its replies to end with status completed)", path, last.line, what, ErrIncompleteMigration)
	}
	fin := last.info
	switch {
	case fin.TotalTime == nil:
		return nil, fmt.Errorf("%s:%d: query-migrate: completed reply without total-time", path, last.line)
	case fin.Downtime == nil:
		return nil, fmt.Errorf("%s:%d: query-migrate: completed reply without downtime", path, last.line)
	case fin.RAM == nil:
		return nil, fmt.Errorf("%s:%d: query-migrate: completed reply without ram statistics", path, last.line)
	}
	r.final = last.raw
	r.metrics = fin.Metrics()
	if bt, ok := last.keys["postcopy-blocktime"]; ok {
		var ms float64
		if err := json.Unmarshal(bt, &ms); err != nil {
			return nil, fmt.Errorf("%s:%d: query-migrate: postcopy-blocktime: want milliseconds, got %s", path, last.line, clip(bt, 40))
		}
		r.metrics.StallTimeS = ms / 1000
	}

	// The polled samples: the lab's own, or one per reply.
	if m.lab != nil {
		r.series = m.lab.Series
	} else {
		for _, rep := range m.replies {
			var t float64 // seconds since the migrate command: the reply's total-time
			if rep.info.TotalTime != nil {
				t = float64(*rep.info.TotalTime) / 1000
			}
			r.series = append(r.series, rep.info.Sample(t))
		}
	}
	postcopy := fin.RAM.PostcopyBytes > 0 || fin.RAM.PostcopyReqs > 0
	for _, s := range r.series {
		if s.Status == "postcopy-active" {
			postcopy = true
		}
	}
	r.postcopy = postcopy

	// Metrics.
	r.measured = []string{"total_time_s", "downtime_s"}
	if _, ok := last.keys["setup-time"]; ok {
		r.measured = append(r.measured, "setup_time_s")
	}
	r.measured = append(r.measured, "transferred_bytes")
	if _, ok := last.ram["downtime-bytes"]; ok {
		r.measured = append(r.measured, "bandwidth_bps")
	}
	r.measured = append(r.measured, "rounds", "dirty_sync_count", "pages.zero", "pages.normal")
	if postcopy {
		r.measured = append(r.measured, "postcopy_requests")
		if _, ok := last.ram["postcopy-bytes"]; ok {
			r.measured = append(r.measured, "postcopy_bytes")
		}
		if _, ok := last.keys["postcopy-blocktime"]; ok {
			r.measured = append(r.measured, "stall_time_s")
		}
	}
	if fin.XbzrleCache != nil {
		r.measured = append(r.measured, "xbzrle_pages", "xbzrle_bytes", "xbzrle_cache_misses")
	}

	// Facts.
	ps := fin.RAM.PageSize
	if ps == 0 {
		ps = 4096
	} else {
		r.fact("vm.page_size", units.Bytes(ps).String(), "ram.page-size")
	}
	if fin.RAM.Total == 0 || fin.RAM.Total%ps != 0 {
		return nil, fmt.Errorf("%s:%d: query-migrate: ram.total %d: want a positive whole number of %d-byte pages", path, last.line, fin.RAM.Total, ps)
	}
	r.fact("vm.memory", units.Bytes(fin.RAM.Total).String(), "ram.total")
	pages := fin.RAM.Total / ps
	if fin.RAM.Duplicate > pages {
		return nil, fmt.Errorf("%s:%d: query-migrate: ram.duplicate %d exceeds the %d pages of ram.total", path, last.line, fin.RAM.Duplicate, pages)
	}
	r.fact("workload.generator.zero_fraction", strconv.FormatFloat(float64(fin.RAM.Duplicate)/float64(pages), 'f', -1, 64), "ram.duplicate / pages")
	if rate, k := pollDirtyRate(r.series); k > 0 {
		r.dirtyRate, r.rateTarget = rate, lastPolledRate(r.series)
		r.fact("workload.generator.dirty_rate", strconv.FormatFloat(math.Round(rate), 'f', -1, 64), pollNote(k))
	} else if len(r.series) > 1 {
		r.lacks("workload.generator.dirty_rate", "no poll while active and unthrottled carries ram.dirty-pages-rate")
	} else {
		r.lacks("workload.generator.dirty_rate", "QEMU reports ram.dirty-pages-rate only while the migration is active, and this record is the final reply")
	}
	if postcopy {
		r.fact("model.name", "hybrid", "switched to post-copy")
		r.lacks("model.precopy_rounds", fmt.Sprintf("QEMU had synced its dirty log %d times when it switched: precopy_rounds + 2 under sync_policy qemu", switchSyncs(r.series, fin.RAM.DirtySyncCount)))
	} else {
		r.fact("model.name", "precopy", "completed without post-copy")
	}

	// Capabilities and parameters.
	st := m.settings
	throttled := false
	for _, rep := range m.replies {
		if _, ok := rep.keys["cpu-throttle-percentage"]; ok {
			throttled = true
		}
	}
	for _, s := range r.series {
		if s.ThrottlePct > 0 {
			throttled = true
		}
	}
	if on, ok := st.caps["auto-converge"]; ok {
		r.fact("model.auto_converge", strconv.FormatBool(on), "query-migrate-capabilities auto-converge")
	} else if throttled {
		r.fact("model.auto_converge", "true", "cpu-throttle-percentage polled")
	} else {
		r.lacks("model.auto_converge", "QEMU reports cpu-throttle-percentage only while it throttles")
	}
	if st.caps["compress"] {
		return nil, fmt.Errorf("%s:%d: query-migrate-capabilities: compress is on: migsim does not model QEMU's compression threads (multifd compression it does)", path, st.line)
	}
	multifdBytes, hasMultifd := last.ram["multifd-bytes"]
	switch on, ok := st.caps["multifd"]; {
	case ok && !on:
		r.fact("model.multifd.channels", "0", "query-migrate-capabilities multifd off")
	case ok && on:
		if n, has, err := st.param("multifd-channels"); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, st.line, err)
		} else if has {
			r.fact("model.multifd.channels", strconv.FormatUint(n, 10), "query-migrate-parameters multifd-channels")
		} else {
			r.lacks("model.multifd.channels", "multifd is on and no query-migrate-parameters reply gives multifd-channels")
		}
	case hasMultifd && string(bytes.TrimSpace(multifdBytes)) == "0":
		r.fact("model.multifd.channels", "0", "ram.multifd-bytes 0")
	case hasMultifd:
		r.lacks("model.multifd.channels", "ram.multifd-bytes is above 0, so multifd was on, and the reply does not say with how many channels")
	default:
		r.lacks("model.multifd.channels", "the reply has no ram.multifd-bytes (QEMU before 3.0)")
	}
	if c, ok := st.params["multifd-compression"]; ok && st.caps["multifd"] {
		var v string
		if err := json.Unmarshal(c, &v); err != nil {
			return nil, fmt.Errorf("%s:%d: query-migrate-parameters multifd-compression: want a string", path, st.line)
		}
		r.fact("model.multifd.compression", v, "query-migrate-parameters multifd-compression")
	}
	xbzrle, from := fin.XbzrleCache != nil, "xbzrle-cache present"
	if !xbzrle {
		from = "no xbzrle-cache"
	}
	if on, ok := st.caps["xbzrle"]; ok {
		xbzrle, from = on, "query-migrate-capabilities xbzrle"
	}
	r.fact("model.xbzrle.enabled", strconv.FormatBool(xbzrle), from)
	if xbzrle {
		size := uint64(0)
		if fin.XbzrleCache != nil {
			size = fin.XbzrleCache.CacheSize
		}
		if v, ok, err := st.param("xbzrle-cache-size"); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, st.line, err)
		} else if ok {
			size = v
		}
		if size > 0 {
			r.fact("model.xbzrle.cache_size", units.Bytes(size).String(), "xbzrle-cache.cache-size")
		}
	}
	if st.caps["postcopy-preempt"] && postcopy {
		r.fact("model.postcopy_preempt", "true", "query-migrate-capabilities postcopy-preempt")
	}
	if v, ok, err := st.param("max-bandwidth"); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, st.line, err)
	} else if ok {
		r.fact("model.max_bandwidth", formatByteRate(v), "query-migrate-parameters max-bandwidth")
	} else {
		r.lacks("model.max_bandwidth", "query-migrate does not report max-bandwidth; a query-migrate-parameters reply does")
	}
	if v, ok, err := st.param("downtime-limit"); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, st.line, err)
	} else if ok {
		r.fact("model.downtime_limit", strconv.FormatUint(v, 10)+"ms", "query-migrate-parameters downtime-limit")
	} else {
		r.lacks("model.downtime_limit", "query-migrate does not report downtime-limit; a query-migrate-parameters reply does")
	}
	if postcopy {
		if v, ok, err := st.param("max-postcopy-bandwidth"); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, st.line, err)
		} else if ok {
			r.fact("model.max_postcopy_bandwidth", formatByteRate(v), "query-migrate-parameters max-postcopy-bandwidth")
		} else {
			r.lacks("model.max_postcopy_bandwidth", "query-migrate does not report max-postcopy-bandwidth; a query-migrate-parameters reply does")
		}
	} else {
		for _, p := range []struct{ param, key string }{
			{"cpu-throttle-initial", "model.cpu_throttle_initial"},
			{"cpu-throttle-increment", "model.cpu_throttle_increment"},
			{"max-cpu-throttle", "model.max_cpu_throttle"},
			{"throttle-trigger-threshold", "model.throttle_trigger_threshold"},
		} {
			if v, ok, err := st.param(p.param); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, st.line, err)
			} else if ok {
				r.fact(p.key, strconv.FormatUint(v, 10), "query-migrate-parameters "+p.param)
			}
		}
	}
	return r, nil
}

// pollDirtyRate is the mean of the distinct ram.dirty-pages-rate values
// polled while the migration was active and the guest unthrottled (QEMU
// updates the rate at a dirty sync at most once a second; repeated polls
// repeat it), and how many values it is the mean of.
func pollDirtyRate(series []lab.MigrateSample) (float64, int) {
	var sum float64
	var k int
	prev := -1.0
	for _, s := range series {
		if s.Status != "active" || s.ThrottlePct > 0 || s.DirtyPagesRate <= 0 {
			continue
		}
		if s.DirtyPagesRate != prev {
			sum += s.DirtyPagesRate
			k++
			prev = s.DirtyPagesRate
		}
	}
	if k == 0 {
		return 0, 0
	}
	return sum / float64(k), k
}

// pollNote says where a polled dirty rate came from.
func pollNote(k int) string {
	if k == 1 {
		return "ram.dirty-pages-rate, the one polled value"
	}
	return fmt.Sprintf("ram.dirty-pages-rate, mean of %d polled values", k)
}

// switchSyncs is QEMU's dirty-sync-count at the switch to post-copy: the
// first postcopy-active poll's, else the final one.
func switchSyncs(series []lab.MigrateSample, final int) int {
	for _, s := range series {
		if s.Status == "postcopy-active" {
			return s.DirtySyncCount
		}
	}
	return final
}

// clip returns b as text, cut to n bytes with an ellipsis.
func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
