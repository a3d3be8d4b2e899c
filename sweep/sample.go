package sweep

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/scenarios"

	"github.com/migsim/migsim/units"
)

// Random streams of the sampling blocks, the second word of their PCG
// seeds; the first is the sweep's seed.
const (
	streamRandom = 1
	streamLatin  = 2
)

// sampleRange is one key of a random or latin block: a numeric range, or
// a list of values to pick from.
type sampleRange struct {
	axis     *sweepAxis
	typ      reflect.Type
	min, max float64 // in the key's base unit: bytes, bits/s, nanoseconds
	log      bool
	values   []*yaml.Node // when picking from a list
}

// readSamples reads a random or latin block and draws its samples:
//
//	random: {n: 100, keys: {KEY: {min: A, max: B, log: false} | {values: [...]}}}
//
// random draws each key's value uniformly and independently for each of
// the n points (log-uniformly with log: true); latin splits each key's
// range into n equal strata and draws one value in each, in an
// independently shuffled order per key (a Latin hypercube). A list of
// values is sampled through its index.
func (sf *sweepFile) readSamples(block string, line int, n *yaml.Node) ([]*sweepAxis, error) {
	if n.Kind != yaml.MappingNode {
		return nil, sf.errf(line, block, "", "want a mapping with n and keys, got %s", scenarios.DescribeNode(n))
	}
	count := 0
	var keys *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolveAlias(n.Content[i+1])
		switch kn.Value {
		case "n":
			c, err := strconv.Atoi(vn.Value)
			if vn.Kind != yaml.ScalarNode || err != nil || c < 1 {
				return nil, sf.errf(vn.Line, block, "n", "want a sample count of at least 1, got %s", scenarios.DescribeNode(vn))
			}
			if c > maxSweepPoints {
				return nil, sf.errf(vn.Line, block, "n", "%d is more than the %d points a sweep may have", c, maxSweepPoints)
			}
			count = c
		case "keys":
			keys = vn
		default:
			return nil, sf.errf(kn.Line, block, kn.Value, "unknown key (known: n, keys)")
		}
	}
	if count == 0 {
		return nil, sf.errf(line, block, "n", "missing: give the number of samples, e.g. n: 100")
	}
	if keys == nil || keys.Kind != yaml.MappingNode || len(keys.Content) == 0 {
		return nil, sf.errf(line, block, "keys", "missing or empty: give scenario keys with {min, max} or {values: [...]}")
	}

	var ranges []*sampleRange
	errs := sf.eachAxisKey(block, keys.Content, func(key string, kn, vn *yaml.Node) error {
		r, err := sf.readRange(block, key, kn.Line, vn)
		if err != nil {
			return err
		}
		ranges = append(ranges, r)
		return nil
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	stream := uint64(streamRandom)
	if block == BlockLatin {
		stream = streamLatin
	}
	rng := rand.New(rand.NewPCG(sf.seed, stream))
	axes := make([]*sweepAxis, len(ranges))
	for k, r := range ranges {
		u := make([]float64, count)
		if block == BlockLatin {
			perm := rng.Perm(count)
			for i := range u {
				u[i] = (float64(perm[i]) + rng.Float64()) / float64(count)
			}
		} else {
			for i := range u {
				u[i] = rng.Float64()
			}
		}
		r.axis.sample, r.axis.u = r, u
		axes[k] = r.axis
	}
	return axes, nil
}

// readRange reads {min, max, log} or {values: [...]} for key.
func (sf *sweepFile) readRange(block, key string, line int, n *yaml.Node) (*sampleRange, error) {
	t, err := sf.keyType(key)
	if err != nil {
		return nil, sf.errf(line, block, key, "%v", err)
	}
	r := &sampleRange{axis: &sweepAxis{Axis: Axis{Key: key, Kind: block}, line: line}, typ: t}
	if n.Kind != yaml.MappingNode {
		return nil, sf.errf(line, block, key, "want {min: A, max: B} or {values: [...]}, got %s", scenarios.DescribeNode(n))
	}
	var minN, maxN *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolveAlias(n.Content[i+1])
		switch kn.Value {
		case "min":
			minN = vn
		case "max":
			maxN = vn
		case "log":
			b, err := strconv.ParseBool(vn.Value)
			if vn.Kind != yaml.ScalarNode || err != nil {
				return nil, sf.errf(vn.Line, block, key, "log: want true or false, got %s", scenarios.DescribeNode(vn))
			}
			r.log = b
		case "values":
			if vn.Kind != yaml.SequenceNode || len(vn.Content) == 0 {
				return nil, sf.errf(vn.Line, block, key, "values: want a non-empty list, got %s", scenarios.DescribeNode(vn))
			}
			for _, v := range vn.Content {
				r.values = append(r.values, resolveAlias(v))
			}
		default:
			return nil, sf.errf(kn.Line, block, key, "unknown range key %q (known: min, max, log, values)", kn.Value)
		}
	}
	if r.values != nil {
		if minN != nil || maxN != nil || r.log {
			return nil, sf.errf(line, block, key, "give either values or min and max, not both")
		}
		return r, nil
	}
	if minN == nil || maxN == nil {
		return nil, sf.errf(line, block, key, "a range needs both min and max")
	}
	if !numericKey(t) {
		return nil, sf.errf(line, block, key, "is %s, not a number: sample it with values: [...]", scenarios.DescribeType(t))
	}
	if r.min, err = parseBound(t, minN); err != nil {
		return nil, sf.errf(minN.Line, block, key, "min: %v", err)
	}
	if r.max, err = parseBound(t, maxN); err != nil {
		return nil, sf.errf(maxN.Line, block, key, "max: %v", err)
	}
	if r.min > r.max {
		return nil, sf.errf(line, block, key, "min %s is above max %s", minN.Value, maxN.Value)
	}
	if r.log && r.min <= 0 {
		return nil, sf.errf(line, block, key, "log: true needs a positive min, got %s", minN.Value)
	}
	return r, nil
}

func numericKey(t reflect.Type) bool {
	switch t {
	case bytesType, rateType, durationType:
		return true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// parseBound parses a range bound of a key of type t, in the key's base
// unit.
func parseBound(t reflect.Type, n *yaml.Node) (float64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want %s, got %s", scenarios.DescribeType(t), scenarios.DescribeNode(n))
	}
	s := n.Value
	var v float64
	switch t {
	case bytesType:
		b, err := units.ParseBytes(s)
		if err != nil {
			return 0, err
		}
		v = float64(b)
	case rateType:
		r, err := units.ParseBitRate(s)
		if err != nil {
			return 0, err
		}
		v = float64(r)
	case durationType:
		d, err := units.ParseDuration(s)
		if err != nil {
			return 0, err
		}
		v = float64(d)
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("want %s, got %q", scenarios.DescribeType(t), s)
		}
		v = f
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}

// at returns the value at quantile u in [0, 1) of the range, as a YAML
// scalar.
func (r *sampleRange) at(u float64) *yaml.Node {
	if r.values != nil {
		return r.values[min(int(u*float64(len(r.values))), len(r.values)-1)]
	}
	x := r.min + u*(r.max-r.min)
	if r.log {
		x = math.Exp(math.Log(r.min) + u*(math.Log(r.max)-math.Log(r.min)))
	}
	x = min(max(x, r.min), r.max)
	// A plain scalar tagged as YAML reads its text, so that the value is
	// what the text given with --set would be.
	scalar := func(_, v string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
		n.Tag = n.ShortTag()
		return n
	}
	switch r.typ {
	case bytesType:
		return scalar("!!int", strconv.FormatInt(int64(math.Round(x)), 10))
	case rateType:
		return scalar("!!float", strconv.FormatFloat(x, 'f', -1, 64))
	case durationType:
		return scalar("!!str", time.Duration(math.Round(x)).String())
	}
	switch r.typ.Kind() {
	case reflect.Float32, reflect.Float64:
		return scalar("!!float", strconv.FormatFloat(x, 'g', -1, 64))
	}
	return scalar("!!int", strconv.FormatInt(int64(math.Round(x)), 10))
}
