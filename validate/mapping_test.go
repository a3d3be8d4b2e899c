package validate

import (
	"errors"
	"strings"
	"testing"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// TestLabRefusesWhatItCannotRun checks that a model setting the lab has
// no QEMU equivalent for is refused at its key, not dropped: the real
// migration would run without it while the simulator models it.
func TestLabRefusesWhatItCannotRun(t *testing.T) {
	for _, c := range []struct {
		sets []string
		key  string // "" for accepted
	}{
		{[]string{"model.name=precopy", "model.multifd.channels=2"}, ""},
		{[]string{"model.name=hybrid", "model.xbzrle.enabled=true"}, ""},
		{[]string{"model.name=hybrid", "model.multifd.channels=2"}, "model.multifd.channels"},
		{[]string{"model.name=postcopy", "model.multifd.channels=2"}, "model.multifd.channels"},
		{[]string{"model.name=postcopy", "model.balloon.enabled=true"}, "model.balloon.enabled"},
		{[]string{"model.name=hybrid", "model.free_page_hint=true"}, "model.free_page_hint"},
		{[]string{"model.name=precopy", "model.pagecache.mode=skip"}, "model.pagecache.mode"},
		{[]string{"model.name=precopy", "model.max_rounds=30"}, "model.max_rounds"},
		{[]string{"model.name=precopy", "model.max_bytes_factor=3"}, "model.max_bytes_factor"},
		{[]string{"model.name=postcopy", "model.prepaging=bubbling"}, "model.prepaging"},
		{[]string{"model.name=hybrid", "model.rate_limit_window=50ms"}, "model.rate_limit_window"},
		{[]string{"model.name=precopy", "model.multifd.channels=2", "model.multifd.compression=qatzip-like"}, "model.multifd.compression"},
		{[]string{"model.name=parallel"}, "model.name"},
	} {
		spec, err := scenarios.LoadDefault(c.sets)
		if err != nil {
			t.Fatal(err)
		}
		_, err = labMigrationParams(spec)
		if c.key == "" {
			if err != nil {
				t.Errorf("%v: %v, want the lab to run it", c.sets, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v: accepted, want %s refused", c.sets, c.key)
			continue
		}
		fields, _ := models.FieldErrors(err)
		if c.key == "model.name" {
			if !strings.HasPrefix(err.Error(), "model.name") {
				t.Errorf("%v: %v, want it refused at model.name", c.sets, err)
			}
			continue
		}
		if len(fields) != 1 || fields[0].Key != c.key {
			t.Errorf("%v: %v, want one error at %s", c.sets, err, c.key)
		}
	}
}

// TestMigrationParamsOfParts checks that each part sets its QEMU
// settings: the switch of a hybrid from Switch, max-bandwidth of pure
// post-copy from Faults, and a field record (migrationParams) keeping
// what the lab would refuse.
func TestMigrationParamsOfParts(t *testing.T) {
	hy := models.DefaultHybridParams()
	hy.PrecopyRounds, hy.DowntimeLimit, hy.MaxBandwidth = 2, 50e6, 400e6
	hy.Multifd.Channels = 2
	m := migParamsOf(t, hy)
	if !m.Postcopy || m.PostcopyAfterSyncs != 3 || m.DowntimeLimit != 50e6 || m.MaxBandwidth != 400e6 || m.MultifdChannels != 2 {
		t.Errorf("hybrid: %+v", m)
	}
	pc := models.DefaultPostcopyParams()
	pc.MaxPostcopyBandwidth = 80e6
	if m := migParamsOf(t, pc); m.MaxBandwidth != 80e6 || m.DowntimeLimit != models.DefaultDowntimeLimit || m.PostcopyAfterSyncs != 0 {
		t.Errorf("post-copy: %+v, want max-bandwidth at max-postcopy-bandwidth, QEMU's downtime-limit, switch at once", m)
	}
	pre := models.DefaultPrecopyParams()
	pre.AutoConverge, pre.CPUThrottleInitial = true, 30
	if m := migParamsOf(t, pre); !m.AutoConverge || m.CPUThrottleInitial != 30 || m.Postcopy {
		t.Errorf("pre-copy: %+v", m)
	}
	if _, err := MigrationParamsOf(struct{}{}); err == nil {
		t.Error("parameters without parts: no error")
	}
	spec, err := scenarios.LoadDefault([]string{"model.name=hybrid", "model.multifd.channels=2"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := migrationParams(spec); err != nil || m.MultifdChannels != 2 {
		t.Errorf("field record of a hybrid with multifd: %+v, %v", m, err)
	}
	var fe *models.FieldError
	if _, err := labMigrationParams(spec); !errors.As(err, &fe) {
		t.Errorf("lab run of a hybrid with multifd: %v, want a FieldError", err)
	}
}
