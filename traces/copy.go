package traces

import (
	"bufio"
	"errors"
	"io"
)

// SourceError is an error Copy got from its source, as opposed to one from
// the writer. It reads as the source's error, unchanged; Epochs says how
// many epochs were copied before it.
type SourceError struct {
	Epochs uint64 // epochs copied before the error
	Err    error  // the source's error
}

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Copy writes every epoch of src to w, until src returns io.EOF, and
// returns the number of epochs written. It neither closes w nor src. An
// error from src comes back as a [*SourceError] (which wraps it, and
// prints as it does), one from w as it is.
func Copy(w *Writer, src Source) (uint64, error) {
	var e Epoch
	var n uint64
	for {
		err := src.Next(&e)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, &SourceError{Epochs: n, Err: err}
		}
		if err := w.WriteEpoch(&e); err != nil {
			return n, err
		}
		n++
	}
}

// Encode writes src to dst as a whole trace file under src's header:
// header, every epoch (see [Copy]), end record, through a buffer it
// flushes at the end. It returns the number of epochs written; dst is not
// closed.
func Encode(dst io.Writer, src Source) (uint64, error) {
	bw := bufio.NewWriterSize(dst, 256<<10)
	tw, err := NewWriter(bw, src.Header())
	if err != nil {
		return 0, err
	}
	n, err := Copy(tw, src)
	if err != nil {
		return n, err
	}
	if err := tw.Close(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
