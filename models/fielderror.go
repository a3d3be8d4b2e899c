package models

import (
	"errors"
	"fmt"
)

// FieldError is a problem with one key of a model's parameters, as
// *fs.PathError is a problem with one path: the key and what is wrong
// with its value. A parameters' Validate returns one per bad key, joined
// with errors.Join; [FieldErrors] lists them, and a scenario loader maps
// each Key to the file and line it came from, never by reading the
// message.
type FieldError struct {
	// Key is the dotted scenario key, e.g. "model.multifd.channels".
	Key string
	// Err says what is wrong with the key's value.
	Err error
}

// Error returns "key: what is wrong".
func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns the *FieldError of each part of err (a tree of
// errors.Join lists), in order, and the parts that hold none in rest.
// A part is read with errors.As, so a FieldError wrapped with context is
// found too.
func FieldErrors(err error) (fields []*FieldError, rest []error) {
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if list, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range list.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			fields = append(fields, fe)
			return
		}
		rest = append(rest, err)
	}
	walk(err)
	return fields, rest
}

// checks collects the field errors of a validation, flat.
type checks []error

// check records a FieldError for key unless ok.
func (c *checks) check(ok bool, key, format string, args ...any) {
	if !ok {
		*c = append(*c, &FieldError{Key: key, Err: fmt.Errorf(format, args...)})
	}
}

// add records err's parts (nil: none).
func (c *checks) add(err error) {
	if list, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range list.Unwrap() {
			c.add(e)
		}
		return
	}
	if err != nil {
		*c = append(*c, err)
	}
}

// err joins the errors collected, nil for none.
func (c checks) err() error { return errors.Join(c...) }
