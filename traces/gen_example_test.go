package traces_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// A sequential scan at 250 pages/s in 10ms epochs writes 2.5 pages per
// epoch: cumulative floor gives 2, 3, 2, 3, 2, and the scan wraps at the
// 8-page working set.
func ExampleNewGenerator() {
	spec := traces.GeneratorSpec{
		Kind:       traces.GenSequential,
		DirtyRate:  250,
		WorkingSet: 8 * 4 * units.KiB,
		Duration:   50 * time.Millisecond,
	}
	src, err := traces.NewGenerator(spec, 64*units.KiB, 4*units.KiB, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	var e traces.Epoch
	for src.Next(&e) != io.EOF {
		fmt.Println(e.Index, e.Written.ToArray())
	}
	// Output:
	// 0 [0 1]
	// 1 [2 3 4]
	// 2 [5 6]
	// 3 [0 1 7]
	// 4 [2 3]
}

func ExampleGeneratorSpec_Validate() {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenHotCold
	spec.DirtyRate = 25000
	spec.HotShare = 1.5
	fmt.Println(spec.Validate(8*units.GiB, 4*units.KiB))
	// Output:
	// generator.hot_share: 1.5 is outside (0, 1]
}

// Stats streams a trace and summarizes it; the report has a text form and
// a JSON form with the unit in every name. Uniform writes of 10 pages per
// epoch over 1024 pages touch 1024 × (1 − (1 − 10/1024)^100) ≈ 640 distinct
// pages a second.
func ExampleStats() {
	spec := traces.GeneratorSpec{Kind: traces.GenUniform, DirtyRate: 1000, WorkingSet: 4 * units.MiB, Duration: 20 * time.Second}
	src, err := traces.NewGenerator(spec, 16*units.MiB, 4*units.KiB, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := traces.Stats(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	st.Provenance = "(elided)"
	st.WriteText(os.Stdout)
	b, _ := json.Marshal(st.WorkingSets[1])
	fmt.Println(string(b))
	// Output:
	// provenance         (elided)
	// memory             4096 pages of 4KiB (16MiB)
	// composition        anon 4096, zero 0, free 0, pagecache 0 pages
	// epochs             2000 of 10ms (20s)
	// dirty rate         mean 1000.0 pages/s, peak 1000.0 pages/s (epoch 0)
	// read rate          mean 0.0 pages/s
	// written            20000 page-epochs, 1024 distinct pages (25.0% of memory, 0 of them zero)
	// read               0 page-epochs
	// working set 1s     mean 640.1, max 660 pages over 20 windows
	// working set 10s    mean 1024.0, max 1024 pages over 2 windows
	// working set 1m40s  n/a: trace shorter than one window
	// {"window_s":10,"window_epochs":1000,"windows":2,"mean_pages":1024,"max_pages":1024}
}

// A text trace (IMPORT.md) converts to the binary format with Import.
func ExampleImport() {
	text := `# from a tracer
page_count: 64
epoch: 10ms
zero: 48-63
0,w,0-3 9
0,r,4 9
1,r,10-11
3,w,
`
	var bin bytes.Buffer
	n, err := traces.Import(&bin, strings.NewReader(text), "example.txt", traces.ImportOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("imported", n, "epochs")
	r, err := traces.NewReader(&bin, "example.mgt")
	if err != nil {
		fmt.Println(err)
		return
	}
	var e traces.Epoch
	for r.Next(&e) != io.EOF {
		fmt.Println(e.Index, "written", e.Written.ToArray(), "read", e.Read.ToArray())
	}

	_, err = traces.Import(io.Discard, strings.NewReader("page_count: 64\nepoch: 10ms\n0,w,64\n"), "bad.txt", traces.ImportOptions{})
	fmt.Println(err)
	// Output:
	// imported 4 epochs
	// 0 written [0 1 2 3 9] read [4]
	// 1 written [] read [10 11]
	// 2 written [] read []
	// 3 written [] read []
	// bad.txt:3:5: page 64 is beyond the page count 64
}
