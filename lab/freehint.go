package lab

import (
	"bytes"
	"strings"
)

// Free-page hinting runs (model.free_page_hint, pre-copy): both QEMUs get
// an iothread and a virtio-balloon device with free-page-hint=on, and the
// guest's kernel command line migsim.free=1, which puts the replayer in
// free-page mode (free-class pages never touched, pages the trace frees
// handed back with MADV_DONTNEED; see cmd/migsim-guest). QEMU 7.2 asks the
// guest for free-page hints at the start of the bulk stage by itself: the
// balloon driver reports free blocks of the buddy allocator, and QEMU
// clears their dirty bits, so the bulk stage skips them unless the guest
// writes them again. A hinted page counts neither as normal nor as
// duplicate; ram.total is unchanged.

// freeHintBalloonID and freeHintIOThreadID name the devices of a hinting
// run.
const (
	freeHintBalloonID  = "balloon0"
	freeHintIOThreadID = "hint0"
)

// withFreePageHint returns a side's QEMU arguments (from qemuArgs) with
// the iothread and the hinting balloon added and migsim.free=1 on the
// kernel command line.
func withFreePageHint(args []string) []string {
	out := make([]string, 0, len(args)+4)
	for i := 0; i < len(args); i++ {
		out = append(out, args[i])
		if args[i] == "-append" && i+1 < len(args) {
			i++
			out = append(out, args[i]+" migsim.free=1 init_on_alloc=0")
		}
	}
	return append(out,
		"-object", "iothread,id="+freeHintIOThreadID,
		"-device", "virtio-balloon-pci,id="+freeHintBalloonID+",free-page-hint=on,iothread="+freeHintIOThreadID)
}

// compareRAMHinted compares the source's RAM a with the destination's b
// after a hinting run. A page the destination holds all zero where the
// source does not is a hinted page: QEMU never sent it, and the guest's
// kernel holds it free, so its contents do not matter (the destination's
// replayer still checks every page of its own region). Any other
// difference is bad.
func compareRAMHinted(a, b []byte) (same, hinted, bad, firstBad uint64) {
	for off := 0; off+4096 <= len(a) && off+4096 <= len(b); off += 4096 {
		switch {
		case bytes.Equal(a[off:off+4096], b[off:off+4096]):
			same++
		case bytes.Equal(b[off:off+4096], zeroPage[:]):
			hinted++
		default:
			if bad == 0 {
				firstBad = uint64(off / 4096)
			}
			bad++
		}
	}
	return same, hinted, bad, firstBad
}

// hintablePages parses hint_pages from the replayer's ready line (free-page
// mode): the guest's free pages in blocks of the buddy allocator's highest
// order, the only ones its balloon driver hints (4 MiB blocks on x86); 0
// when absent.
func hintablePages(ready string) uint64 {
	return readyCount(ready, "hint_pages")
}

// readyCount parses the count key of a ready line; 0 when absent or not a
// count.
func readyCount(ready, key string) uint64 {
	v := lineFields(ready)[key]
	if v == "" || strings.HasPrefix(v, "-") {
		return 0
	}
	var kb uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		kb = kb*10 + uint64(c-'0')
	}
	return kb
}
