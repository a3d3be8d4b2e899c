package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/migsim/migsim/traces"
)

// WriteTraceFile writes every epoch of src to a trace file at path. It
// stops with ctx's error when ctx ends.
func WriteTraceFile(ctx context.Context, path string, src traces.Source) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := traces.NewWriter(bw, src.Header())
	if err != nil {
		return err
	}
	var e traces.Epoch
	for {
		if e.Index%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		err := src.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the trace to write %s: %w", path, err)
		}
		if err := w.WriteEpoch(&e); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
