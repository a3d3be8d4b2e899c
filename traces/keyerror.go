package traces

import "fmt"

// KeyError is a problem with one key of a generator spec, as
// models.FieldError is with a model parameter: the key, relative to the
// scenario's workload section (e.g. "generator.phases[1].epoch"), and
// what is wrong with its value. [GeneratorSpec.Validate] and the closed
// forms ([NewExpect]) return one; a scenario loader reads it with
// errors.As and places it at the key's file and line.
type KeyError struct {
	// Key is the dotted key below the workload section.
	Key string
	// Err says what is wrong with the key's value.
	Err error
}

// Error returns "key: what is wrong".
func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *KeyError) Unwrap() error { return e.Err }

// keyErrorf returns a *KeyError for key with a formatted message.
func keyErrorf(key, format string, args ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}
