// Package atomicfile writes files so that a reader sees the old content or
// the new, never a part: the new content goes to a temporary file in the
// same directory, is fsynced and then renamed over the file (and the
// directory fsynced, so that the rename lasts). A write that fails, or a
// caller that gives up, removes the temporary file and leaves the old file
// as it was.
//
// [WriteFile] does it all for content written at once; [Create] returns
// the temporary [File] for a caller that writes it over time and decides
// later to [File.Commit] or [File.Abort] it.
package atomicfile
