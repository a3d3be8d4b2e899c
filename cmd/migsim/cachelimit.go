package main

import (
	"fmt"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/units"
)

// cacheLimit is the --cache-max flag: a size such as 2GiB, or "off" to
// never prune the boot-kit cache.
type cacheLimit units.Bytes

func (c *cacheLimit) String() string {
	switch {
	case *c < 0:
		return "off"
	case *c == 0:
		return units.Bytes(lab.DefaultCacheMax).String()
	}
	return units.Bytes(*c).String()
}

func (c *cacheLimit) Set(s string) error {
	if s == "off" {
		*c = -1
		return nil
	}
	b, err := units.ParseBytes(s)
	if err != nil || b <= 0 {
		return fmt.Errorf("want a positive size such as 2GiB, or off (got %q)", s)
	}
	*c = cacheLimit(b)
	return nil
}

func (c *cacheLimit) Type() string { return "size" }
