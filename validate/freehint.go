package validate

import (
	"bytes"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
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

// hintedLayout lays out, for the simulator, the composition of a hinting
// run's guest RAM of guestPages pages whose first tracePages are the
// replayer's region. The free set holds freePages pages, the ones the
// guest's balloon driver can hint (see hintablePages): the region's
// untouched pages (its zero and free classes, never faulted in, so free in
// the guest kernel) first, then the rest at the top of RAM. Only the count
// matters to the simulator: guest-physical placement is the kernel's. The
// zero set is the region's untouched pages left out of the free set, then
// as many more just below the free range as the source's RAM held all-zero
// pages beyond those: zeroPages counts the free set's zero pages too, all
// but hintedNonzero of them (the hinted pages found non-zero on the source
// after the run, see compareRAMHinted).
func hintedLayout(guestPages, tracePages uint64, traceZero, traceFree *roaring.Bitmap, freePages, hintedNonzero, zeroPages uint64) (zero, free *roaring.Bitmap) {
	untouched := roaring.New()
	if traceZero != nil {
		untouched.Or(traceZero)
	}
	if traceFree != nil {
		untouched.Or(traceFree)
	}
	free = roaring.New()
	top := guestPages
	if n := untouched.GetCardinality(); freePages <= n {
		if freePages > 0 {
			last, _ := untouched.Select(uint32(freePages - 1))
			free.Or(untouched)
			free.RemoveRange(uint64(last)+1, guestPages)
		}
	} else {
		free.Or(untouched)
		extra := min(freePages-n, guestPages-tracePages)
		free.AddRange(guestPages-extra, guestPages)
		top -= extra
	}
	zero = roaring.AndNot(untouched, free)
	freeZero := free.GetCardinality() - min(hintedNonzero, free.GetCardinality())
	if have := freeZero + zero.GetCardinality(); zeroPages > have {
		extra := min(zeroPages-have, top-tracePages)
		zero.AddRange(top-extra, top)
	}
	return zero, free
}
