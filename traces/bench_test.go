package traces

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// The decode benchmarks read a trace of a 16 GiB guest (2^22 pages of
// 4 KiB) from memory and report page events (written plus read pages)
// decoded per second, and the file size per event. FORMAT.md quotes them.

const fileBenchPages = 1 << 22

// fileBenchKinds builds the epochs of each benchmark: written and read sets
// of one shape.
var fileBenchKinds = map[string]func(r *rand.Rand) (w, rd *roaring.Bitmap){
	// 1% of memory written and 1% read, uniformly at random.
	"Sparse": func(r *rand.Rand) (*roaring.Bitmap, *roaring.Bitmap) {
		return fileSparseSet(r, fileBenchPages, fileBenchPages/100), fileSparseSet(r, fileBenchPages, fileBenchPages/100)
	},
	// A quarter of memory written in two ranges, an eighth read in one.
	"Dense": func(r *rand.Rand) (*roaring.Bitmap, *roaring.Bitmap) {
		lo := r.Uint64N(fileBenchPages / 8)
		return fileRangeSet(lo, lo+fileBenchPages/8, fileBenchPages/2, fileBenchPages/2+fileBenchPages/8),
			fileRangeSet(fileBenchPages*3/4, fileBenchPages*7/8)
	},
	// 90% of a hot 5% written, 50% of another hot 5% read, 0.1% cold each.
	"HotCold": func(r *rand.Rand) (*roaring.Bitmap, *roaring.Bitmap) {
		const p, hot = fileBenchPages, fileBenchPages / 20
		return fileHotColdSet(r, p, p/4, p/4+hot, 0.9, p/1000), fileHotColdSet(r, p, p/2, p/2+hot, 0.5, p/1000)
	},
}

// fileBenchTrace returns a trace of n epochs of kind and its page events.
func fileBenchTrace(b *testing.B, kind string, n int) ([]byte, uint64) {
	r := rand.New(rand.NewPCG(42, uint64(len(kind))))
	h := &Header{PageSize: 4096, PageCount: fileBenchPages, Epoch: 1e8}
	es := make([]Epoch, n)
	var events uint64
	for i := range es {
		w, rd := fileBenchKinds[kind](r)
		rd.AndNot(w)
		es[i] = Epoch{Index: uint64(i), Written: w, Read: rd}
		events += w.GetCardinality() + rd.GetCardinality()
	}
	return fileWrite(b, h, es), events
}

func benchmarkDecode(b *testing.B, kind string) {
	file, events := fileBenchTrace(b, kind, 16)
	var e Epoch
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		tr, err := NewReader(bytes.NewReader(file), "bench.mgt")
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := tr.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(file))/float64(events), "B/event")
}

func BenchmarkDecodeSparse(b *testing.B)  { benchmarkDecode(b, "Sparse") }
func BenchmarkDecodeDense(b *testing.B)   { benchmarkDecode(b, "Dense") }
func BenchmarkDecodeHotCold(b *testing.B) { benchmarkDecode(b, "HotCold") }

// BenchmarkSetEncodings decodes one written set of each kind in each
// encoding, whichever the writer would choose: the figures behind the
// writer's smaller-of rule in FORMAT.md.
func BenchmarkSetEncodings(b *testing.B) {
	for _, kind := range []string{"Sparse", "Dense", "HotCold"} {
		w, _ := fileBenchKinds[kind](rand.New(rand.NewPCG(7, 7)))
		for _, enc := range []struct {
			name   string
			encode func(*roaring.Bitmap) []byte
		}{{"delta", fileDeltaEncode}, {"roaring", fileRoaringEncode}} {
			b.Run(kind+"/"+enc.name, func(b *testing.B) {
				data := enc.encode(w)
				var dec setDecoder
				var lay setLayout
				bm := roaring.New()
				for b.Loop() {
					if _, _, err := dec.decodeSet(data, fileBenchPages, bm, "bench", &lay); err != nil {
						b.Fatal(err)
					}
				}
				n := float64(w.GetCardinality())
				b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(len(data))/n, "B/event")
				b.ReportMetric(float64(len(data)), "bytes")
			})
		}
	}
}

func benchmarkEncode(b *testing.B, kind string) {
	file, events := fileBenchTrace(b, kind, 16)
	tr, err := NewReader(bytes.NewReader(file), "bench.mgt")
	if err != nil {
		b.Fatal(err)
	}
	var es []Epoch
	for {
		var e Epoch
		if err := tr.Next(&e); err != nil {
			break
		}
		es = append(es, e)
	}
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		w, err := NewWriter(io.Discard, tr.Header())
		if err != nil {
			b.Fatal(err)
		}
		for i := range es {
			if err := w.WriteEpoch(&es[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkEncodeSparse(b *testing.B)  { benchmarkEncode(b, "Sparse") }
func BenchmarkEncodeDense(b *testing.B)   { benchmarkEncode(b, "Dense") }
func BenchmarkEncodeHotCold(b *testing.B) { benchmarkEncode(b, "HotCold") }
