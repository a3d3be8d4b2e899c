package models

// HybridParams are the parameters of [Hybrid], the scenario's model
// section: the parts [Switch], [Rounds], [Push], [Faults], [Stream] and
// [Memory], the sections multifd and xbzrle, and the pre-copy rounds'
// sync policy. The keys are flat, as in the other models' sections; a key
// of [PrecopyParams] or [PostcopyParams] means the same here.
type HybridParams struct {
	Switch `mapstructure:",squash"`
	// SyncPolicy says when the pre-copy rounds sync the dirty log: qemu
	// (the default) or pass, as in [PrecopyParams].
	SyncPolicy SyncPolicy `mapstructure:"sync_policy"`
	Rounds     `mapstructure:",squash"`
	Push       `mapstructure:",squash"`
	Faults     `mapstructure:",squash"`
	Stream     `mapstructure:",squash"`
	// Multifd sends the pre-copy rounds over several channels, as QEMU
	// does with multifd and postcopy-ram together, and pushes the
	// post-copy phase's pages over them, uncompressed (see [Multifd] and
	// postcopy_stream.go); off unless its channels is set.
	Multifd Multifd `mapstructure:"multifd"`
	// Xbzrle sends pages re-sent in the pre-copy rounds as XBZRLE deltas,
	// as for pre-copy (see [Xbzrle]); QEMU uses it until the switch and
	// never in post-copy. Off unless enabled; not with multifd.
	Xbzrle Xbzrle `mapstructure:"xbzrle"`
	Memory `mapstructure:",squash"`
}

// DefaultHybridParams returns one pre-copy round, then post-copy with
// forward pre-paging, with QEMU's defaults otherwise.
func DefaultHybridParams() HybridParams {
	return HybridParams{
		Switch:     Switch{PrecopyRounds: DefaultPrecopyRounds},
		SyncPolicy: SyncQEMU,
		Rounds:     DefaultRounds(),
		Push:       DefaultPush(),
		Faults:     DefaultFaults(),
		Stream:     DefaultStream(),
		Multifd:    DefaultMultifd(),
		Xbzrle:     DefaultXbzrle(),
		Memory:     DefaultMemory(),
	}
}

// Parts returns the parts p is built of.
func (p *HybridParams) Parts() Parts {
	return Parts{Switch: &p.Switch, Rounds: &p.Rounds, Push: &p.Push, Faults: &p.Faults, Stream: &p.Stream,
		Memory: &p.Memory, Multifd: &p.Multifd, Xbzrle: &p.Xbzrle}
}

// Validate checks the parameters, one [FieldError] per bad key.
func (p *HybridParams) Validate() error {
	c := p.Parts().validate()
	c.add(p.SyncPolicy.validate())
	return c.err()
}

// precopy returns the pre-copy parameters of the live rounds: the parts
// the two share, whole, and pre-copy's defaults for the rest: no caps,
// no auto-converge (the switch to post-copy is what ends a round that
// does not converge), the single stream unbounded by CPU, QEMU's
// iteration step.
func (p *HybridParams) precopy() PrecopyParams {
	pre := DefaultPrecopyParams()
	pre.Rounds, pre.Stream, pre.Memory = p.Rounds, p.Stream, p.Memory
	pre.SyncPolicy = p.SyncPolicy
	pre.Multifd, pre.Xbzrle = p.Multifd, p.Xbzrle
	return pre
}

// config returns the settings of the post-copy phase: the parts the two
// share and the multifd channels (uncompressed after the switch); the
// single stream unbounded by CPU.
func (p *HybridParams) config() postcopyConfig {
	post := PostcopyParams{Push: p.Push, Faults: p.Faults, Stream: p.Stream, Multifd: p.Multifd}
	return post.config()
}
