package main

import (
	"errors"
	"fmt"
)

// exitCode is migsim's process exit status. Scripts and CI key on these
// values; do not renumber them.
type exitCode int

const (
	// exitOK: the command did what was asked.
	exitOK exitCode = 0
	// exitError: the command failed (a bad scenario, an unreadable trace,
	// a failed simulation). The reason is on stderr.
	exitError exitCode = 1
	// exitUsage: the command line is wrong (unknown command or flag, wrong
	// number of arguments, bad flag value). Nothing was run.
	exitUsage exitCode = 2
	// exitAccuracy: the simulation ran but an accuracy gate failed (the
	// model disagrees with measurements by more than its tolerance).
	exitAccuracy exitCode = 3
	// exitAssert: the command ran and wrote its output, but an --assert
	// expression was false (or could not be evaluated) on a result.
	exitAssert exitCode = 4
)

// usageError is a mistake in the command line; it exits with exitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// accuracyError is a failed accuracy gate; it exits with exitAccuracy.
type accuracyError struct{ err error }

func (e *accuracyError) Error() string { return e.err.Error() }
func (e *accuracyError) Unwrap() error { return e.err }

// assertionError is a failed --assert; it exits with exitAssert.
type assertionError struct{ err error }

func (e *assertionError) Error() string { return e.err.Error() }
func (e *assertionError) Unwrap() error { return e.err }

// exitCodeOf returns the exit code for the error a command returned.
func exitCodeOf(err error) exitCode {
	var ue *usageError
	var ae *accuracyError
	var se *assertionError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ae):
		return exitAccuracy
	case errors.As(err, &se):
		return exitAssert
	}
	return exitError
}
