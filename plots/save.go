package plots

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Formats are the file formats [Save] writes, by extension.
var Formats = []string{"png", "svg", "pdf"}

// Size is a figure's size and, for PNG, its resolution.
type Size struct {
	Width, Height vg.Length
	// DPI is the PNG resolution in dots per inch: the image is
	// Width × DPI by Height × DPI pixels.
	DPI int
}

// DefaultSize is one column of a two-column paper at 300 dpi.
var DefaultSize = Size{Width: DefaultWidth, Height: DefaultHeight, DPI: DefaultDPI}

// Write draws f in format (png, svg or pdf) to w.
func Write(w io.Writer, f Figure, format string, size Size) error {
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "png":
		dpi := size.DPI
		if dpi <= 0 {
			dpi = DefaultDPI
		}
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(size.Width, size.Height), vgimg.UseDPI(dpi))}
	case "svg":
		c = vgsvg.New(size.Width, size.Height)
	case "pdf":
		c = vgpdf.New(size.Width, size.Height)
	default:
		return fmt.Errorf("unknown figure format %q (want %s)", format, strings.Join(Formats, ", "))
	}
	f.Draw(draw.New(c))
	_, err := c.WriteTo(w)
	return err
}

// Save draws f to the file path in the format its extension names:
// .png, .svg or .pdf.
func Save(path string, f Figure, size Size) (err error) {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if !slices.Contains(Formats, format) {
		return fmt.Errorf("%s: name the figure's format with its extension: .png, .svg or .pdf", path)
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := Write(file, f, format, size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
