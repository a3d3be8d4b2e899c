package sweep

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/migsim/migsim/internal/atomicfile"
)

// Formats says which tables to write besides the JSON Lines journal,
// which is always written.
type Formats struct {
	CSV, Parquet bool
}

// ParseFormats parses a comma-separated list of csv, jsonl and parquet.
func ParseFormats(s string) (Formats, error) {
	var f Formats
	for _, p := range strings.Split(s, ",") {
		switch strings.TrimSpace(p) {
		case "csv":
			f.CSV = true
		case "parquet":
			f.Parquet = true
		case "jsonl", "":
		default:
			return f, fmt.Errorf("format %q: want csv, jsonl or parquet", p)
		}
	}
	return f, nil
}

// writeOutputs writes dir's outputs from ix, the lines of points (in one
// or more journals): the manifest, results.jsonl in point order, and the
// tables formats asks for, a line at a time (it holds no more than one).
// Each file is written to a temporary file and renamed into place; the
// journal last among the data files, so that until it is renamed the old
// journal stays valid for a resume.
func writeOutputs(dir string, m *Manifest, points []int, ix *lineIndex, formats Formats) (err error) {
	t := newTable(m.shape(), m.Axes)
	type tmp struct {
		f  *atomicfile.File
		bw *bufio.Writer
	}
	var files []*tmp
	create := func(name string) (*tmp, error) {
		f, err := atomicfile.Create(filepath.Join(dir, name), tempPattern(name))
		if err != nil {
			return nil, err
		}
		x := &tmp{f: f, bw: bufio.NewWriterSize(f, 1<<20)}
		files = append(files, x)
		return x, nil
	}
	defer func() {
		for _, x := range files {
			x.f.Abort() // nothing once committed
		}
	}()

	var csvw *csvWriter
	var pqw *parquetWriter
	if formats.CSV {
		x, err := create(CSVFile)
		if err != nil {
			return err
		}
		if csvw, err = newCSVWriter(x.bw, t); err != nil {
			return err
		}
	}
	if formats.Parquet {
		x, err := create(ParquetFile)
		if err != nil {
			return err
		}
		if pqw, err = newParquetWriter(x.bw, t); err != nil {
			return err
		}
	}
	jl, err := create(JournalFile)
	if err != nil {
		return err
	}

	rd := lineReader{ix: ix}
	defer rd.close()
	for _, p := range points {
		line, err := rd.read(p)
		if err != nil {
			return err
		}
		if _, err := jl.bw.Write(line); err != nil {
			return err
		}
		if csvw == nil && pqw == nil {
			continue
		}
		loc := ix.locs[p]
		vals, err := t.values(line, ix.files[loc.file], loc.off)
		if err != nil {
			return err
		}
		if csvw != nil {
			if err := csvw.write(vals); err != nil {
				return err
			}
		}
		if pqw != nil {
			if err := pqw.write(vals); err != nil {
				return err
			}
		}
	}
	if csvw != nil {
		if err := csvw.close(); err != nil {
			return err
		}
	}
	if pqw != nil {
		if err := pqw.close(); err != nil {
			return err
		}
	}
	for _, x := range files {
		if err := x.bw.Flush(); err != nil {
			return err
		}
		if err := x.f.Sync(); err != nil {
			return err
		}
	}
	rd.close()
	// Manifest first: the data files that follow match it.
	if err := writeManifest(dir, m); err != nil {
		return err
	}
	for _, x := range files {
		if err := x.f.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// tempPattern is the os.CreateTemp pattern of the temporary file of
// output name (see isStaleTemp).
func tempPattern(name string) string { return "." + name + ".tmp*" }

// writeManifest writes dir/sweep.json atomically.
func writeManifest(dir string, m *Manifest) error {
	b, err := m.encode()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestFile), tempPattern(ManifestFile), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
