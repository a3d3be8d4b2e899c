package traces

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/units"
)

// TestGeneratorGoldenLarge pins, like TestGeneratorGolden, a checksum of
// seed 1's output, for a few epochs of larger workloads on a 1 TiB guest:
// hot and cold parts sharing a container, containers of more than 4096
// pages (bitmap containers), reads around a dense written set, parts
// written whole, zipf. The numbers come from the generators before they
// built their sets through setBuilder; update them only for an intended
// change of stream.
func TestGeneratorGoldenLarge(t *testing.T) {
	cases := []struct {
		name   string
		spec   GeneratorSpec
		memory units.Bytes
		epochs int
		want   uint32
	}{
		{"hotcold/bench+reads", GeneratorSpec{Kind: GenHotCold, DirtyRate: 2e5, ReadRate: 1e5, WorkingSet: 64 * units.GiB, ZeroFraction: 0.25}, units.TiB, 20, 0x504614cd},
		{"uniform/dense-containers", GeneratorSpec{Kind: GenUniform, DirtyRate: 3e6, ReadRate: 5e5, WorkingSet: 256 * units.MiB}, units.TiB, 4, 0xaf6719fb},
		{"uniform/ws1GiB+reads", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6, ReadRate: 3e5, WorkingSet: units.GiB}, units.TiB, 8, 0x5ed23525},
		{"uniform/1TiB", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6}, units.TiB, 4, 0x44f6b629},
		{"hotcold/hot-whole", GeneratorSpec{Kind: GenHotCold, DirtyRate: 2e5, ReadRate: 3e5}, 1 << 14 * genPage, 10, 0x158a2e6b},
		{"zipf+reads", GeneratorSpec{Kind: GenZipf, DirtyRate: 1e5, ReadRate: 1e5}, units.TiB, 8, 0x5be6c6bc},
		{"sequential+reads", GeneratorSpec{Kind: GenSequential, DirtyRate: 1e6, ReadRate: 1e5}, units.TiB, 8, 0xb18b0e4e},
	}
	for _, c := range cases {
		spec := c.spec
		spec.Duration = time.Duration(c.epochs) * 10 * time.Millisecond
		src, err := NewGenerator(spec, c.memory, genPage, 1)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		var e Epoch
		for range c.epochs {
			if err := src.Next(&e); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			for _, bm := range []*roaring.Bitmap{e.Written, e.Read} {
				crc.Write(binary.LittleEndian.AppendUint32(nil, uint32(bm.GetCardinality())))
				var b []byte
				for _, p := range bm.ToArray() {
					b = binary.LittleEndian.AppendUint32(b, p)
				}
				crc.Write(b)
			}
		}
		if got := crc.Sum32(); got != c.want {
			t.Errorf("%s: output checksum %#08x, want %#08x", c.name, got, c.want)
		}
	}
}
