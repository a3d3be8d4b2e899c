package scenarios

import (
	"fmt"
	"strings"

	"github.com/migsim/migsim/units"
)

// pageRateKeys are the generator keys in pages per second. Each also
// takes a byte rate ("2GB/s", "500MiB/s"), converted with vm.page_size:
// a capacity planner knows how fast a database dirties memory in bytes.
var pageRateKeys = []string{"dirty_rate", "read_rate", "alloc_rate", "free_rate"}

// isPageRateKey reports whether the dotted key is a rate in pages per
// second (a generator's, or a phase's).
func isPageRateKey(key string) bool {
	if !strings.HasPrefix(key, "workload.generator.") {
		return false
	}
	last := key[strings.LastIndexByte(key, '.')+1:]
	for _, k := range pageRateKeys {
		if last == k {
			return true
		}
	}
	return false
}

// pageRates converts the byte rates given for the page-rate keys of the
// generator section (and of its phases) in settings, the merged file and
// overrides, to pages per second, with the page size the scenario gives
// (vm.page_size) or else def. A text value that is not a byte rate is an
// error at its key; numbers are left as they are.
func (l *loader) pageRates(settings map[string]any, def units.Bytes) {
	w, _ := settings["workload"].(map[string]any)
	g, _ := w["generator"].(map[string]any)
	if g == nil {
		return
	}
	page := def
	if vm, ok := settings["vm"].(map[string]any); ok {
		if v, ok := vm["page_size"]; ok {
			p, err := unitsHook(nil, bytesType, v)
			b, ok := p.(units.Bytes)
			if err != nil || !ok {
				return // reported when vm.page_size is decoded
			}
			page = b
		}
	}
	l.convertRates("workload.generator", g, page)
	if phases, ok := g["phases"].([]any); ok {
		for i, ph := range phases {
			if m, ok := ph.(map[string]any); ok {
				l.convertRates(fmt.Sprintf("workload.generator.phases[%d]", i), m, page)
			}
		}
	}
}

// convertRates converts the page-rate keys of section m, at prefix.
func (l *loader) convertRates(prefix string, m map[string]any, page units.Bytes) {
	for _, k := range pageRateKeys {
		s, ok := m[k].(string)
		if !ok {
			continue
		}
		key := prefix + "." + k
		bps, err := units.ParseByteRate(s)
		if err != nil {
			l.addf(key, "want pages/s (a number) or a byte rate such as 2GB/s or 500MiB/s (converted with vm.page_size), got %q", s)
			delete(m, k) // reported once, not again by the decoder
			continue
		}
		if page <= 0 {
			l.addf(key, "a byte rate needs a positive vm.page_size")
			delete(m, k)
			continue
		}
		m[k] = bps / float64(page)
	}
}
