package validate

import (
	"errors"
	"fmt"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// labModels are the models whose migrations QEMU runs: pre-copy, post-copy
// and pre-copy rounds then post-copy. Enlightened post-copy needs a guest
// that marks its working set, parallel PMigrate's workers; QEMU has
// neither.
var labModels = map[string]bool{"precopy": true, "postcopy": true, "hybrid": true}

// MigrationParamsOf returns the QEMU settings that match a model's
// parameters (a pointer, as models.Info.Params returns them), part by part
// (see models.Parts):
//
//   - Rounds: downtime-limit and max-bandwidth;
//   - Throttle: the auto-converge capability and its steps;
//   - Faults: the postcopy-ram capability and max-postcopy-bandwidth.
//     Without Rounds (pure post-copy) the switch comes right after the
//     migrate command, under QEMU's default downtime-limit, with
//     max-bandwidth at max-postcopy-bandwidth, so that what QEMU sends
//     before it switches goes at the model's rate;
//   - Switch: migrate-start-postcopy once dirty-sync-count reaches
//     precopy_rounds + 1 (right after the migrate command for 0);
//   - Push: the postcopy-preempt capability;
//   - Multifd: the multifd capability, its channels, compression and
//     level;
//   - Xbzrle: the xbzrle capability and its cache size;
//   - Memory: free-page hinting and the balloon.
//
// The other keys (Stream's fixed costs, Faults' fault costs, CPU, the
// sync policy) say how the simulator models what QEMU does, and set
// nothing in QEMU. A multifd compression QEMU 7.2 lacks is an error
// naming its key.
func MigrationParamsOf(params any) (lab.MigrationParams, error) {
	parts, ok := models.PartsOf(params)
	if !ok {
		return lab.MigrationParams{}, fmt.Errorf("parameters of type %T declare no parts", params)
	}
	m := lab.MigrationParams{DowntimeLimit: models.DefaultDowntimeLimit}
	if r := parts.Rounds; r != nil {
		m.DowntimeLimit, m.MaxBandwidth = r.DowntimeLimit, r.MaxBandwidth
	}
	if t := parts.Throttle; t != nil {
		m.AutoConverge = t.AutoConverge
		m.CPUThrottleInitial, m.CPUThrottleIncrement = t.CPUThrottleInitial, t.CPUThrottleIncrement
		m.MaxCPUThrottle, m.ThrottleTriggerThreshold = t.MaxCPUThrottle, t.ThrottleTriggerThreshold
		m.CPUThrottleTailslow = t.CPUThrottleTailslow
	}
	if f := parts.Faults; f != nil {
		m.Postcopy, m.MaxPostcopyBandwidth = true, f.MaxPostcopyBandwidth
		if parts.Rounds == nil {
			m.MaxBandwidth = f.MaxPostcopyBandwidth
		}
	}
	if s := parts.Switch; s != nil && s.PrecopyRounds > 0 {
		m.PostcopyAfterSyncs = s.PrecopyRounds + 1
	}
	if p := parts.Push; p != nil {
		m.PostcopyPreempt = p.Preempt
	}
	if mf := parts.Multifd; mf != nil && mf.Channels > 0 {
		switch c := mf.Compression; c {
		case "", "none", "zlib", "zstd":
		default:
			return lab.MigrationParams{}, &models.FieldError{Key: "model.multifd.compression", Err: fmt.Errorf("%q: QEMU 7.2 offers none, zlib and zstd", c)}
		}
		m.MultifdChannels, m.MultifdCompression, m.MultifdLevel = mf.Channels, mf.Compression, mf.Level
	}
	if x := parts.Xbzrle; x != nil {
		m.Xbzrle, m.XbzrleCacheSize = x.Enabled, x.CacheSize
	}
	if mem := parts.Memory; mem != nil {
		m.FreePageHint = mem.FreePageHint
		m.Balloon, m.BalloonEfficiency, m.BalloonMinFree = mem.Balloon.Enabled, mem.Balloon.Efficiency, mem.Balloon.MinFree
	}
	return m, nil
}

// migrationParams returns the QEMU settings of spec's model (see
// [MigrationParamsOf]), or an error naming the models the lab runs. The
// comparison of a field record, which QEMU has run already, reads them.
func migrationParams(spec *scenarios.Spec) (lab.MigrationParams, error) {
	if !labModels[spec.Model.Name] {
		return lab.MigrationParams{}, fmt.Errorf("model.name %q: the lab validates the precopy, postcopy and hybrid models so far", spec.Model.Name)
	}
	return MigrationParamsOf(spec.Model.Params)
}

// labMigrationParams is [migrationParams] for a run in the lab: it also
// refuses, naming each key, what the model sets and the lab cannot run,
// where the simulator would model a setting the real migration lacks.
func labMigrationParams(spec *scenarios.Spec) (lab.MigrationParams, error) {
	m, err := migrationParams(spec)
	if err != nil {
		return m, err
	}
	parts, _ := models.PartsOf(spec.Model.Params)
	var errs []error
	refuse := func(key, format string, args ...any) {
		errs = append(errs, &models.FieldError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	if c := parts.RoundCaps; c != nil {
		if c.MaxRounds > 0 {
			refuse("model.max_rounds", "%d: QEMU has no round cap (Xen's); the lab runs none", c.MaxRounds)
		}
		if c.MaxBytesFactor > 0 {
			refuse("model.max_bytes_factor", "%v: QEMU has no byte cap (Xen's); the lab runs none", c.MaxBytesFactor)
		}
	}
	if p := parts.Push; p != nil {
		if p.Prepaging != models.PrepagingForward {
			refuse("model.prepaging", "%s: QEMU's source pushes forward from each requested page; the lab runs only forward", p.Prepaging)
		}
		if p.RateLimitWindow != models.DefaultRateLimitWindow {
			refuse("model.rate_limit_window", "%v: QEMU 7.2's window is fixed at %v (BUFFER_DELAY)", p.RateLimitWindow, models.DefaultRateLimitWindow)
		}
	}
	if m.Postcopy && m.MultifdChannels > 0 {
		refuse("model.multifd.channels", "%d: QEMU 7.2 refuses multifd with postcopy-ram; the lab runs multifd with pre-copy only", m.MultifdChannels)
	}
	if mem := parts.Memory; mem != nil {
		if m.Postcopy && mem.FreePageHint {
			refuse("model.free_page_hint", "the lab runs free-page hinting with pre-copy only so far")
		}
		if m.Postcopy && mem.Balloon.Enabled {
			refuse("model.balloon.enabled", "the lab runs the balloon with pre-copy only so far")
		}
		if mode := mem.Pagecache.Mode; mode != "" && mode != models.PagecacheSend {
			refuse("model.pagecache.mode", "%s: the lab has no shared storage to restore page cache from; it runs send only", mode)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return lab.MigrationParams{}, err
	}
	return m, nil
}
