package lab

import (
	"context"
	"errors"
	"fmt"
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
	cs := &ctxSource{Source: src, ctx: ctx}
	_, err = traces.Encode(f, cs)
	var se *traces.SourceError
	switch {
	case cs.stopped:
		return ctx.Err()
	case errors.As(err, &se):
		return fmt.Errorf("reading the trace to write %s: %w", path, se.Err)
	}
	return err
}

// ctxSource is a Source that ends with its context's error, which it
// checks every 1024 epochs; stopped says it did.
type ctxSource struct {
	traces.Source
	ctx     context.Context
	n       uint64
	stopped bool
}

func (s *ctxSource) Next(e *traces.Epoch) error {
	if s.n%1024 == 0 && s.ctx.Err() != nil {
		s.stopped = true
		return s.ctx.Err()
	}
	s.n++
	return s.Source.Next(e)
}
