package fleet

import "testing"

// TestDefaultEngine: a VM whose entry names no model.engine runs on
// auto (fluid for pre-copy over a generator, page for post-copy); one that
// names it, in its entry or by --set, keeps it.
func TestDefaultEngine(t *testing.T) {
	text := `name: engines
network: {profile: lan-10g}
vms:
  - name: pre
    vm: {memory: 256MiB}
    workload: {generator: {kind: hotcold, dirty_rate: 5000}}
    model: {name: precopy}
  - name: post
    vm: {memory: 256MiB}
    workload: {generator: {kind: hotcold, dirty_rate: 5000}}
    model: {name: postcopy}
  - name: paged
    vm: {memory: 256MiB}
    workload: {generator: {kind: hotcold, dirty_rate: 5000}}
    model: {name: precopy, engine: page}
`
	f := writeFleet(t, text)
	for i, want := range []string{"auto", "auto", "page"} {
		if got := string(f.VMs[i].Spec.Model.Engine); got != want {
			t.Errorf("%s: model.engine %q, want %q", f.VMs[i].Name, got, want)
		}
	}
	res := runFleet(t, f, Options{})
	for i, want := range []string{"fluid", "fluid", ""} {
		if got := res.VMs[i].Engine; got != want {
			t.Errorf("%s ran on %q, want %q", res.VMs[i].Name, got, want)
		}
	}
	set := writeFleet(t, text, "vms.pre.model.engine=page", "vms.paged.model.engine=fluid")
	if a, b := set.VMs[0].Spec.Model.Engine, set.VMs[2].Spec.Model.Engine; a != "page" || b != "fluid" {
		t.Errorf("--set engines: pre %q, paged %q; want page, fluid", a, b)
	}
}
