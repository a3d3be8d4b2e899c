package sweep

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		f    *os.File
		bw   *bufio.Writer
		dest string
	}
	var files []*tmp
	create := func(name string) (*tmp, error) {
		dest := filepath.Join(dir, name)
		f, err := os.CreateTemp(dir, "."+name+".tmp*")
		if err != nil {
			return nil, err
		}
		if err := f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		x := &tmp{f: f, bw: bufio.NewWriterSize(f, 1<<20), dest: dest}
		files = append(files, x)
		return x, nil
	}
	defer func() {
		for _, x := range files {
			if x.f != nil {
				x.f.Close()
				os.Remove(x.f.Name())
			}
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
		if err := x.f.Close(); err != nil {
			return err
		}
	}
	rd.close()
	// Manifest first: the data files that follow match it.
	if err := writeManifest(dir, m); err != nil {
		return err
	}
	for _, x := range files {
		if err := os.Rename(x.f.Name(), x.dest); err != nil {
			return err
		}
		x.f = nil
	}
	return syncDir(dir)
}

// writeManifest writes dir/sweep.json atomically.
func writeManifest(dir string, m *Manifest) error {
	b, err := m.encode()
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ManifestFile), func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}
