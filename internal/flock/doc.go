// Package flock takes advisory locks on open files: flock(2) on Unix,
// which the kernel releases when the file is closed or the process ends,
// however it ends (SIGKILL included), so a lock is never left stale. On
// other systems no lock is taken and every attempt succeeds.
//
// migsim locks a sweep's output directory through a lock file in it (see
// package sweep), and the temporary file it writes an output to, so that
// a later run can tell a temporary file a killed run left behind (no
// holder) from one another process is still writing (locked).
package flock
