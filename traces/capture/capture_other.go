//go:build !linux

package capture

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/RoaringBitmap/roaring/v2"
)

// Detect reports that capture needs Linux.
func Detect() (Mechanism, error) {
	return Auto, fmt.Errorf("capture: %w: %s has neither soft-dirty bits nor userfaultfd", ErrUnsupported, runtime.GOOS)
}

type noSampler struct{}

func (noSampler) sample(Region, *roaring.Bitmap) error { return errors.ErrUnsupported }
func (noSampler) endEpoch() error                      { return nil }
func (noSampler) add(Region) error                     { return nil }
func (noSampler) Close() error                         { return nil }

func newSoftDirty(int) (sampler, error)        { _, err := Detect(); return noSampler{}, err }
func newUffdWP(int, []Region) (sampler, error) { _, err := Detect(); return noSampler{}, err }
