package plots

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/cmpimg"
	"gonum.org/v1/plot/vg"
)

// goldenSize is the size of the golden images: a one-column figure, two
// columns wide for small multiples, at a screen's resolution.
func goldenSize(name string) Size {
	if strings.HasSuffix(name, "-facet") {
		return Size{Width: 7 * vg.Inch, Height: 2.8 * vg.Inch, DPI: 96}
	}
	return Size{Width: 3.5 * vg.Inch, Height: 2.8 * vg.Inch, DPI: 96}
}

// renderPNG draws fig as a PNG of the golden size for name.
func renderPNG(t *testing.T, name string, fig Figure) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, fig, "png", goldenSize(name)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGoldenImages draws every kind of figure (one panel and small
// multiples, failures marked, units in legends) and compares each pixel
// with testdata/KIND_golden.png, with gonum/plot's cmpimg: a wrong
// series, a lost mark or a moved label fails. After a deliberate change,
// regenerate with 'go test ./plots -run TestGoldenImages -regen', and look
// at every image before committing it.
func TestGoldenImages(t *testing.T) {
	for name, fig := range figures(t) {
		t.Run(name, func(t *testing.T) {
			file := name + ".png"
			cmpimg.CheckPlot(func() {
				if err := os.WriteFile(filepath.Join("testdata", file), renderPNG(t, name, fig), 0o644); err != nil {
					t.Fatal(err)
				}
			}, t, file)
			os.Remove(filepath.Join("testdata", file)) // keep the golden only
		})
	}
}

// TestGoldenCatchesWrongSeries checks that the golden comparison fails
// when one series is wrong: the line figure drawn from a table where
// pre-copy's runs at 10000 pages/s took 0.5 s longer differs from its
// golden image, while the same table unchanged matches it.
func TestGoldenCatchesWrongSeries(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "line_golden.png"))
	if err != nil {
		t.Fatal(err)
	}
	draw := func(change bool) []byte {
		tb := where(t, testTable(t), "bandwidth=10Gbit")
		if change {
			for _, r := range tb.Rows {
				if r[1] == "10000" && r[3] == "precopy" {
					r[9] = strings.TrimSuffix(r[9], "1") + "6" // 5.1 -> 5.6 s, and so on
				}
			}
		}
		fig, err := Line(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model", LogX: true, Title: "total time"})
		if err != nil {
			t.Fatal(err)
		}
		return renderPNG(t, "line", fig)
	}
	if ok, err := cmpimg.Equal("png", draw(false), golden); err != nil || !ok {
		t.Fatalf("the unchanged figure does not match its golden image (%v)", err)
	}
	if ok, err := cmpimg.Equal("png", draw(true), golden); err != nil || ok {
		t.Errorf("a figure with a wrong series matches the golden image (%v)", err)
	}
}
