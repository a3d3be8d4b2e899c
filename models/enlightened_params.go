package models

import (
	"time"
)

// EnlightenedParams are the parameters of [Enlightened], the scenario's
// model section: the working-set horizon and the parts [Faults] and
// [Stream]. A key of [PostcopyParams] means the same here.
type EnlightenedParams struct {
	// WSHorizon is how far ahead the guest marks its working set: the
	// pages it touches within this much guest time after the stop are
	// pushed first, in the order it first touches them, a duration.
	// Default 2s.
	WSHorizon time.Duration `mapstructure:"ws_horizon"`
	Faults    `mapstructure:",squash"`
	Stream    `mapstructure:",squash"`
}

// DefaultWSHorizon is enlightened post-copy's working-set horizon.
const DefaultWSHorizon = 2 * time.Second

// DefaultEnlightenedParams returns a 2 s working-set horizon and the
// post-copy defaults.
func DefaultEnlightenedParams() EnlightenedParams {
	return EnlightenedParams{WSHorizon: DefaultWSHorizon, Faults: DefaultFaults(), Stream: DefaultStream()}
}

// Parts returns the parts p is built of.
func (p *EnlightenedParams) Parts() Parts {
	return Parts{Faults: &p.Faults, Stream: &p.Stream}
}

// Validate checks the parameters, one [FieldError] per bad key.
func (p *EnlightenedParams) Validate() error {
	c := p.Parts().validate()
	c.check(p.WSHorizon >= 0, "model.ws_horizon", "%v must not be negative", p.WSHorizon)
	return c.err()
}

// config returns the settings of the post-copy machinery: the push order
// is enlightened's own, with one pivot and no rate-limit window.
func (p *EnlightenedParams) config() postcopyConfig {
	post := PostcopyParams{Push: Push{Prepaging: PrepagingNone, Pivots: 1}, Faults: p.Faults, Stream: p.Stream}
	return post.config()
}
