// Package traces holds the dirty-page traces that migsim replays: what a
// trace is, where traces come from, and the file format that stores them.
//
// # What lives here
//
// A trace is a [Header] (the guest memory it covers: page size, page count,
// epoch length, the pages of each memory [Class] at the start, and free-text
// provenance) followed by a sequence of [Epoch] values, one per epoch of guest
// time, each holding the pages written and the pages only read during it,
// and any change of the memory composition at its start ([ClassChange]:
// pages allocated, freed, added to or dropped from the page cache).
// Page sets are plain 32-bit roaring bitmaps (*roaring.Bitmap); page numbers
// are below [Header.PageCount], which is at most [MaxPages].
//
// Traces come from three places, all behind the same [Source] interface:
//
//   - trace files, read with [Reader] (see [Open], [OpenFile], [NewReader])
//     and written with [Writer];
//   - synthetic generators ([NewGenerator], configured by a
//     [GeneratorSpec]), which produce epochs from a seed and parameters;
//   - text traces captured by other tools, read with [TextReader] and
//     converted to trace files by [Import] (IMPORT.md describes the text
//     form).
//
// [Stats] summarises any Source, and a [Cache] keeps traces in memory so
// that many runs replay one copy.
//
// A generator's expectation has closed forms: [NewExpect] gives, for any
// window of guest time, the expected set of pages the generator writes in
// it ([Expect.Written], [Expect.Distinct]), exact in expectation over
// seeds, at a cost independent of the memory size (expect.go). The fluid
// models run on it instead of replaying epochs.
//
// # Sources and Openers
//
// A [Source] yields the epochs of one trace in order. Header returns the
// trace's header; it does not change while the Source is used. Next fills
// the Epoch it is given with the next epoch, with Index counting from 0 and
// no gaps, and returns nil; after the last epoch it returns io.EOF. Next
// may reuse the bitmaps already in the Epoch, so a caller that keeps an
// epoch past the next call must pass a different Epoch (or clone the sets).
// A Source that fails returns a non-nil error other than io.EOF; the trace
// cannot be continued after that.
//
// Every Source guarantees, for each epoch: every page is below the header's
// page count, the written and read sets are disjoint, and so are the four
// sets of its composition change. Models may rely on these without
// checking.
//
// An [Opener] opens a fresh Source at the first epoch; simulations that
// outlast a trace call it again to replay the trace from the start. A Source
// may hold resources (an open file); release them with [Close], which calls
// Close when the Source has it.
//
// # The trace file format
//
// A trace file (conventionally *.mgt) is a magic number and version byte, a
// header block, one record per epoch (preceded by a composition-change
// record when the epoch changes the composition), and an end record holding the epoch
// count and page-event totals; the header and every record carry a CRC-32C.
// Page sets are stored either delta-coded as uvarints or as roaring
// serializations, whichever is smaller. The full specification, with byte
// diagrams, worked examples and measurements, is FORMAT.md in this
// directory:
// https://github.com/migsim/migsim/blob/main/traces/FORMAT.md
//
// [Reader] streams: it holds one record at a time, checks each one as it
// reads it, and returns io.EOF only after a valid end record, so a truncated
// or damaged file is always reported. Its errors are [*FileError] values that
// name the file, the epoch and the byte offset, and wrap [ErrChecksum],
// [ErrVersion], [ErrFormat] or io.ErrUnexpectedEOF for [errors.Is].
package traces
