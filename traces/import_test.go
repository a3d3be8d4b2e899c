package traces

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// importMustRead reads a text trace to the end or fails the test.
func importMustRead(t *testing.T, text string) (*Header, []Epoch) {
	t.Helper()
	tr, err := NewTextReader(strings.NewReader(text), "t.txt", ImportOptions{})
	if err != nil {
		t.Fatalf("NewTextReader: %v", err)
	}
	return tr.Header(), genCollect(t, tr)
}

// importSameEpochs fails unless a and b hold the same epochs.
func importSameEpochs(t *testing.T, a, b []Epoch) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d epochs, want %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Index != b[i].Index || !a[i].Written.Equals(b[i].Written) || !a[i].Read.Equals(b[i].Read) {
			t.Fatalf("epoch %d: got %d w%v r%v, want %d w%v r%v", i, a[i].Index, a[i].Written, a[i].Read, b[i].Index, b[i].Written, b[i].Read)
		}
	}
}

func importSameSet(a, b *roaring.Bitmap) bool {
	if a == nil || b == nil {
		return (a == nil || a.IsEmpty()) && (b == nil || b.IsEmpty())
	}
	return a.Equals(b)
}

// TestImportDocExample checks that the example in IMPORT.md means what the
// text after it says.
func TestImportDocExample(t *testing.T) {
	doc, err := os.ReadFile("IMPORT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Example\n\n```\n")
	if !ok {
		t.Fatal("IMPORT.md has no example block")
	}
	example, _, _ := strings.Cut(rest, "```")
	h, epochs := importMustRead(t, example)
	if h.PageCount != 64 || h.PageSize != 4096 || h.Epoch != 10*time.Millisecond || h.Provenance != "hand-written example" {
		t.Errorf("header %+v", h)
	}
	if !h.Zero.Equals(genRanges([2]uint64{48, 64})) || h.ClassPages(ClassAnon) != 48 {
		t.Errorf("zero set %v", h.Zero)
	}
	want := []Epoch{
		{Index: 0, Written: roaring.BitmapOf(0, 1, 2, 3, 9), Read: roaring.BitmapOf(4)},
		{Index: 1, Written: roaring.New(), Read: roaring.BitmapOf(10, 11)},
		{Index: 2, Written: roaring.New(), Read: roaring.New()},
		{Index: 3, Written: roaring.New(), Read: roaring.New()},
	}
	importSameEpochs(t, epochs, want)
}

func TestTextReaderForms(t *testing.T) {
	text := "  # comment\r\n" +
		"version: 1\r\n" +
		"page_size: 2MiB\r\n" +
		"memory: 64MiB\r\n" +
		"epoch: 1s\r\n" +
		"epochs: 4\r\n" +
		"provenance:   first line  \r\n" +
		"provenance: second: with colon # and hash\r\n" +
		"free: 1\r\n" +
		"free: 2-3\r\n" +
		"\t\r\n" +
		" 1 , w , 0x1f 5-5 \r\n" +
		"1,w,6\r\n" +
		"1,r,5-7 8\r\n" +
		"# the end\r\n"
	h, epochs := importMustRead(t, text)
	if h.PageSize != 2<<20 || h.PageCount != 32 || h.Epoch != time.Second {
		t.Errorf("header %+v", h)
	}
	if h.Provenance != "first line\nsecond: with colon # and hash" {
		t.Errorf("provenance %q", h.Provenance)
	}
	if !h.Free.Equals(roaring.BitmapOf(1, 2, 3)) {
		t.Errorf("free set %v", h.Free)
	}
	want := []Epoch{
		{Index: 0, Written: roaring.New(), Read: roaring.New()},
		{Index: 1, Written: roaring.BitmapOf(5, 6, 31), Read: roaring.BitmapOf(7, 8)},
		{Index: 2, Written: roaring.New(), Read: roaring.New()},
		{Index: 3, Written: roaring.New(), Read: roaring.New()},
	}
	importSameEpochs(t, epochs, want)
}

// TestImportRoundTrip exports generated traces to text, imports them to
// the binary format, reads that back, and expects the generator's epochs
// and header.
func TestImportRoundTrip(t *testing.T) {
	specs := []GeneratorSpec{
		{Kind: GenIdle, ZeroFraction: 0.5},
		{Kind: GenSequential, DirtyRate: 5000, ReadRate: 2000, ZeroFraction: 0.25},
		{Kind: GenUniform, DirtyRate: 200000, ReadRate: 100000},
		{Kind: GenHotCold, DirtyRate: 5000, ReadRate: 300},
		{Kind: GenZipf, DirtyRate: 5000, ReadRate: 300, ZeroFraction: 0.1},
		{Kind: GenPhases, Phases: []GeneratorSpec{
			{Kind: GenUniform, DirtyRate: 3000, Duration: 50 * time.Millisecond},
			{Kind: GenIdle, Duration: 50 * time.Millisecond},
		}},
	}
	for _, spec := range specs {
		t.Run(spec.Kind, func(t *testing.T) {
			spec.Duration = 200 * time.Millisecond
			gen := func() Source {
				src, err := NewGenerator(spec, 1<<16*genPage, genPage, 3)
				if err != nil {
					t.Fatal(err)
				}
				return src
			}
			want := genCollect(t, gen())
			var text bytes.Buffer
			n, err := ExportText(&text, gen())
			if err != nil || n != uint64(len(want)) {
				t.Fatalf("ExportText = %d, %v; want %d epochs", n, err, len(want))
			}
			var bin bytes.Buffer
			n, err = Import(&bin, bytes.NewReader(text.Bytes()), "gen.txt", ImportOptions{})
			if err != nil || n != uint64(len(want)) {
				t.Fatalf("Import = %d, %v; want %d epochs", n, err, len(want))
			}
			r, err := NewReader(&bin, "gen.mgt")
			if err != nil {
				t.Fatal(err)
			}
			h, gh := r.Header(), gen().Header()
			if h.PageSize != gh.PageSize || h.PageCount != gh.PageCount || h.Epoch != gh.Epoch || h.Provenance != gh.Provenance ||
				!importSameSet(h.Zero, gh.Zero) || !importSameSet(h.Free, gh.Free) || !importSameSet(h.PageCache, gh.PageCache) {
				t.Errorf("header after the round trip\n got %+v\nwant %+v", h, gh)
			}
			importSameEpochs(t, genCollect(t, r), want)
		})
	}
}

func TestImportProvenanceOption(t *testing.T) {
	text := "page_count: 8\nepoch: 1s\nprovenance: tracer v2\n0,w,1\n"
	tr, err := NewTextReader(strings.NewReader(text), "t.txt", ImportOptions{Provenance: "imported from t.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Header().Provenance; got != "tracer v2\nimported from t.txt" {
		t.Errorf("provenance %q", got)
	}
}

// TestImportErrors checks one input for every class of error in IMPORT.md.
func TestImportErrors(t *testing.T) {
	const head = "page_count: 100\nepoch: 10ms\n" // lines 1-2
	cases := []struct {
		name string
		text string
		want string
	}{
		{"neither", "page_count 100\n", `t.txt:1:1: expected a header line "key: value" or an event line "epoch,op,pages"`},
		{"unknown key", "pages: 100\n", `t.txt:1:1: unknown header key "pages" (want one of version, page_size, page_count, memory, epoch, epochs, provenance, zero, free, pagecache)`},
		{"repeated key", head + "  epoch: 20ms\n", `t.txt:3:3: header key "epoch" repeated (first on line 2)`},
		{"version", "version: 2\n", "t.txt:1:10: version: version 2 is not supported (this reader knows version 1)"},
		{"version text", "version:one\n", `t.txt:1:9: version: "one" is not a version number`},
		{"page_size", "page_size: 3000\n", "t.txt:1:12: page_size: 3000B is not a power of two from 512B to 2GiB"},
		{"page_size unit", "page_size: 4 furlongs\n", `t.txt:1:12: page_size: size "4 furlongs": unknown unit "furlongs" (want B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)`},
		{"page_count", "page_count: -1\n", `t.txt:1:13: page_count: "-1" is not a page count from 1 to 4294967296`},
		{"page_count big", "page_count: 4294967297\n", `t.txt:1:13: page_count: "4294967297" is not a page count from 1 to 4294967296`},
		{"memory", "memory: 0\n", "t.txt:1:9: memory: 0B is not positive"},
		{"memory pages", "memory: 6KiB\nepoch: 1s\n", "t.txt:1: memory: 6KiB is not a whole number of 4KiB pages"},
		{"memory too big", "memory: 32TiB\nepoch: 1s\n", "t.txt:1: memory: 32TiB is 8589934592 pages, more than the maximum 4294967296"},
		{"both sizes", "memory: 8MiB\npage_count: 2048\nepoch: 1s\n", "t.txt:1: memory: set page_count or memory, not both"},
		{"epoch unit", "epoch: 10\n", `t.txt:1:8: epoch: duration "10" has no unit (want e.g. 300ms, 10s, 5m)`},
		{"epoch zero", "epoch: 0s\n", "t.txt:1:8: epoch: 0s is not positive"},
		{"epochs", "epochs: many\n", `t.txt:1:9: epochs: "many" is not a whole number of epochs`},
		{"no size", "epoch: 1s\n\n0,w,1\n", "t.txt:3: header has neither page_count nor memory (set one before the first event)"},
		{"no epoch", "page_count: 8\n", `t.txt:1: header has no epoch (the epoch length, e.g. "epoch: 10ms", before the first event)`},
		{"empty", "", "t.txt: header has neither page_count nor memory (set one before the first event)"},
		{"sets overlap", head + "zero: 10-20\nfree: 30 20\n", "t.txt:4:7: free: page 20 is already in the zero set"},
		{"set page", head + "pagecache: 1 100\n", "t.txt:3:14: page 100 is beyond the page count 100"},
		{"provenance utf8", head + "provenance: \xff\n", "t.txt:3: provenance: not UTF-8 text"},
		{"provenance long", head + "provenance: " + strings.Repeat("x", MaxProvenance+1) + "\n", "t.txt:3: provenance: 65537 bytes, more than the maximum 65536"},
		{"header after events", head + "0,w,1\nepochs: 5\n", `t.txt:4:1: header line "epochs" after the first event: header lines come first`},
		{"junk after events", head + "0,w,1\n-1,w,2\n", `t.txt:4:1: expected an event line "epoch,op,pages"`},
		{"two fields", head + "0,w\n", `t.txt:3:1: expected 3 comma-separated fields "epoch,op,pages", got 2`},
		{"four fields", head + "0,w,1,2\n", `t.txt:3:1: expected 3 comma-separated fields "epoch,op,pages", got 4`},
		{"epoch number", head + "0,w,1\n1x,w,1\n", `t.txt:4:1: epoch "1x" is not a whole number`},
		{"epoch order", head + "5,w,1\n5,r,2\n3,w,1\n", "t.txt:5:1: epoch 3 after epoch 5: events must be in epoch order"},
		{"epoch beyond", "page_count: 8\nepoch: 1s\nepochs: 2\n0,w,1\n2,w,1\n", "t.txt:5:1: epoch 2 is not below epochs 2"},
		{"first epoch beyond", "page_count: 8\nepoch: 1s\nepochs: 2\n2,w,1\n", "t.txt:4:1: epoch 2 is not below epochs 2"},
		{"op", head + "0, x ,1\n", `t.txt:3:4: op "x" is not w (written) or r (read)`},
		{"page number", head + "0,w,1 two\n", `t.txt:3:7: "two" is not a page number (want decimal or 0x hexadecimal, or a range lo-hi)`},
		{"range end", head + "0,w,1-x\n", `t.txt:3:7: "x" is not a page number (want decimal or 0x hexadecimal, or a range lo-hi)`},
		{"range open", head + "0,w,5-\n", `t.txt:3:7: "" is not a page number (want decimal or 0x hexadecimal, or a range lo-hi)`},
		{"range order", head + "0,w,9-3\n", "t.txt:3:5: range 9-3 ends before it starts (ranges are inclusive: lo-hi with lo ≤ hi)"},
		{"page range", head + "0,r,  99 100\n", "t.txt:3:10: page 100 is beyond the page count 100"},
		{"page in later epoch", head + "0,w,1\n1,w,0x64\n", "t.txt:4:5: page 100 is beyond the page count 100"},
	}
	for _, c := range cases {
		_, err := Import(io.Discard, strings.NewReader(c.text), "t.txt", ImportOptions{})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		var ie *ImportError
		if err != nil && !errors.As(err, &ie) {
			t.Errorf("%s: error %T is not an *ImportError", c.name, err)
		}
	}
}

func TestImportLineTooLong(t *testing.T) {
	text := "page_count: 100\nepoch: 1s\n0,w," + strings.Repeat("1 ", 100) + "\n"
	tr, err := NewTextReader(strings.NewReader(text), "t.txt", ImportOptions{MaxLineBytes: 64})
	if err == nil {
		err = tr.Next(&Epoch{})
	}
	if want := "t.txt:3: line longer than 64 bytes (raise ImportOptions.MaxLineBytes)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestImportReaders checks the I/O edges: short reads change nothing, and
// a read error is reported, wrapped, and sticks.
func TestImportReaders(t *testing.T) {
	text := "page_count: 100\nepoch: 10ms\n0,w,1-50\n0,r,60\n7,w,99\n"
	_, want := importMustRead(t, text)
	for name, r := range map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data err": iotest.DataErrReader,
	} {
		tr, err := NewTextReader(r(strings.NewReader(text)), "t.txt", ImportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		importSameEpochs(t, genCollect(t, tr), want)
	}
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(text[:len(text)-6]), iotest.ErrReader(boom))
	tr, err := NewTextReader(r, "t.txt", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var e Epoch
	for range 2 {
		err = tr.Next(&e)
	}
	if !errors.Is(err, boom) || err.Error() != "t.txt: disk on fire" {
		t.Errorf("Next = %v, want the read error", err)
	}
	if again := tr.Next(&e); again != err {
		t.Errorf("Next after an error = %v, want the same error", again)
	}
}

func TestImportWriterError(t *testing.T) {
	text := "page_count: 100\nepoch: 10ms\n0,w,1-50\n"
	if _, err := Import(importFailWriter{}, strings.NewReader(text), "t.txt", ImportOptions{}); !errors.Is(err, errImportNoSpace) {
		t.Errorf("Import to a failing writer = %v, want its error", err)
	}
}

var errImportNoSpace = errors.New("no space")

// importFailWriter fails every write.
type importFailWriter struct{}

func (importFailWriter) Write([]byte) (int, error) { return 0, errImportNoSpace }

// TestExportText pins the text the exporter writes.
func TestExportText(t *testing.T) {
	src := &genSliceSource{
		hdr: Header{PageSize: 4096, PageCount: 100, Epoch: 10 * time.Millisecond, Provenance: "a\nb", Zero: genRanges([2]uint64{90, 100})},
		epochs: []Epoch{
			{Written: roaring.BitmapOf(1, 2, 3, 7), Read: roaring.BitmapOf(5)},
			{},
			{Read: genRanges([2]uint64{10, 20}, [2]uint64{30, 31})},
			{},
		},
	}
	var b strings.Builder
	if _, err := ExportText(&b, src); err != nil {
		t.Fatal(err)
	}
	want := `# migsim text trace (IMPORT.md)
version: 1
page_size: 4096
page_count: 100
epoch: 10ms
provenance: a
provenance: b
zero: 90-99
0,w,1-3 7
0,r,5
2,r,10-19 30
3,w,
`
	if b.String() != want {
		t.Errorf("ExportText:\n%s\nwant\n%s", b.String(), want)
	}
}

func TestExportTextLongLines(t *testing.T) {
	every := roaring.New()
	for p := uint32(0); p < 3000; p += 2 {
		every.Add(p)
	}
	src := &genSliceSource{hdr: Header{PageSize: 4096, PageCount: 4000, Epoch: time.Second}, epochs: []Epoch{{Written: every}}}
	var b strings.Builder
	if _, err := ExportText(&b, src); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n0,w,"); n != 2 {
		t.Errorf("1500 pages on %d lines, want 2", n)
	}
	_, epochs := importMustRead(t, b.String())
	if len(epochs) != 1 || !epochs[0].Written.Equals(every) {
		t.Errorf("long lines do not read back")
	}
}
