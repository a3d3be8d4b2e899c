package scenarios

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

var costsType = reflect.TypeFor[models.Costs]()

// applyProfile applies calibration profile p to s in place, leaving the
// keys explicit reports as given (full scenario keys, e.g.
// "model.setup_time"):
//
//   - network.bandwidth from link_bandwidth, vm.device_state from
//     device_state;
//   - the model keys of [calibration.Profile.ModelKeys] the model has;
//   - model.max_bandwidth scaled by bandwidth_factor (or, with multifd
//     channels, multifd_bandwidth_factor), given or not (it is the share
//     of the cap the migration achieves);
//   - every per-page cost duration of a costs section (model.costs,
//     model.multifd.costs) scaled by cost_factor.
//
// A profile field that is 0 changes nothing. s.Model.Params must not be
// shared with another Spec.
func applyProfile(s *Spec, p *calibration.Profile, explicit func(key string) bool) {
	if p.LinkBandwidth > 0 && !explicit("network.bandwidth") {
		s.Network.Bandwidth = p.LinkBandwidth
	}
	if p.DeviceState > 0 && !explicit("vm.device_state") {
		s.VM.DeviceState = p.DeviceState
	}
	keys := p.ModelKeys()
	multifd := false
	if v, ok := Get(s, "model.multifd"); ok {
		if m, ok := v.Interface().(models.Multifd); ok {
			multifd = m.Channels > 0
		}
	}
	costs := map[string]bool{} // the costs sections (model.costs, model.multifd.costs)
	walkParams("model", s.Model.Name, s.Model.Params, func(k Key) bool {
		if k.Type.Kind() == reflect.Struct {
			costs[k.Path] = k.Type == costsType
			return true
		}
		v, parent := k.Value, k.Path[:strings.LastIndexByte(k.Path, '.')]
		switch {
		case explicit(k.Path): // the scenario gives it: leave it
		case costs[parent] && k.Type == durationType:
			v.SetInt(int64(p.ScaleCost(time.Duration(v.Int()))))
		case parent == "model":
			if val, ok := keys[k.field.key]; ok && reflect.TypeOf(val) == k.Type {
				v.Set(reflect.ValueOf(val))
			}
		}
		if k.Path == "model.max_bandwidth" && k.Type == rateType {
			v.Set(reflect.ValueOf(p.ScaleMaxBandwidth(v.Interface().(units.BitRate), multifd)))
		}
		return false
	})
}

// Calibrated returns a copy of s with profile p applied to every key p
// fits, whether s gives the key itself or not: calibration's search,
// which starts from the uncalibrated scenario, tries p on it. The copy
// names p as its calibration (see [Spec.CalibrationProfile]) and
// [Spec.WithoutCalibration] returns s's values.
func (s *Spec) Calibrated(p *calibration.Profile) *Spec {
	c := *s
	c.Model.Params = cloneParams(s.Model.Params)
	c.uncal = &uncalibrated{params: s.Model.Params, bandwidth: s.Network.Bandwidth, deviceState: s.VM.DeviceState}
	c.Calibration, c.calib = p.Name, p
	applyProfile(&c, p, func(string) bool { return false })
	return &c
}

// WithLinkRate returns a copy of s whose network.bandwidth is rate, as if
// the scenario gave it: the validation lab's measured loopback path. A
// calibration profile with a link_bandwidth of its own, applied already
// or later ([Spec.Calibrated]), keeps it: the rate then stands for the
// uncalibrated scenario.
func (s *Spec) WithLinkRate(rate units.BitRate) *Spec {
	c := *s
	if s.uncal != nil {
		u := *s.uncal
		u.bandwidth = rate
		c.uncal = &u
	}
	if s.calib == nil || s.calib.LinkBandwidth <= 0 {
		c.Network.Bandwidth = rate
	}
	return &c
}

// WithMaxTime returns a copy of s whose model's max_time is d, as if the
// scenario gave it (its uncalibrated values too): the validation lab
// replays a run it cancelled at its timeout for as long. It fails for a
// model without max_time.
func (s *Spec) WithMaxTime(d time.Duration) (*Spec, error) {
	set := func(params any) (any, error) {
		c := cloneParams(params)
		parts, ok := models.PartsOf(c)
		if !ok || parts.Stream == nil {
			return nil, fmt.Errorf("model %s has no max_time", s.Model.Name)
		}
		parts.Stream.MaxTime = d
		return c, nil
	}
	c := *s
	var err error
	if c.Model.Params, err = set(s.Model.Params); err != nil {
		return nil, err
	}
	if s.uncal != nil {
		u := *s.uncal
		if u.params, err = set(s.uncal.params); err != nil {
			return nil, err
		}
		c.uncal = &u
	}
	return &c, nil
}

// ProfileOf returns the profile that, applied to s with
// [Spec.Calibrated], changes nothing: factors 1 and the values s has for
// every key a profile fits (0 for the model keys s's model lacks).
func (s *Spec) ProfileOf() calibration.Profile {
	p := calibration.Profile{
		BandwidthFactor: 1, MultifdBandwidthFactor: 1, CostFactor: 1,
		LinkBandwidth: s.Network.Bandwidth, DeviceState: s.VM.DeviceState,
	}
	for key, dst := range map[string]*time.Duration{
		"setup_time": &p.SetupTime, "resume_time": &p.ResumeTime,
		"sync_time_per_gib": &p.SyncTimePerGiB, "fault_service_time": &p.FaultServiceTime,
	} {
		if v, ok := Get(s, "model."+key); ok && v.Type() == durationType {
			*dst = time.Duration(v.Int())
		}
	}
	if v, ok := Get(s, "model.page_header"); ok && v.Type() == bytesType {
		p.PageHeader = units.Bytes(v.Int())
	}
	return p
}
