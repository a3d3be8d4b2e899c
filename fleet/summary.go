package fleet

// Summary is a fleet's result on one row, for a sweep over fleets: the
// fleet's figures, the planner's with order optimize, and, only when
// asked for, the per-VM results. Its JSON keys are those of [Result]
// where they mean the same; the others are added.
type Summary struct {
	// Scenario, Seed, MakespanS, Completed, VMsNotConverged,
	// WorstDowntimeS, SumDowntimeS, TransferredBytes, PeakConcurrency
	// and MaxConcurrent are the Result's.
	Scenario string `json:"scenario"`
	Seed     uint64 `json:"seed"`
	// MigsimVersion is the version of migsim that computed the summary
	// (see migsim version); omitted when the caller did not set it.
	MigsimVersion   string   `json:"migsim_version,omitempty"`
	MakespanS       float64  `json:"makespan_s"`
	Completed       bool     `json:"completed"`
	VMsNotConverged []string `json:"vms_not_converged"`
	// VMsNotConvergedCount is how many VMs did not converge:
	// len(VMsNotConverged).
	VMsNotConvergedCount int `json:"vms_not_converged_count"`
	// VMsOverDowntimeLimit is the Result's; VMsOverDowntimeLimitCount
	// its length.
	VMsOverDowntimeLimit      []string `json:"vms_over_downtime_limit"`
	VMsOverDowntimeLimitCount int      `json:"vms_over_downtime_limit_count"`
	// VMCount is how many VMs the fleet migrated (count expanded).
	VMCount          int     `json:"vm_count"`
	WorstDowntimeS   float64 `json:"worst_downtime_s"`
	SumDowntimeS     float64 `json:"sum_downtime_s"`
	TransferredBytes uint64  `json:"transferred_bytes"`
	PeakConcurrency  int     `json:"peak_concurrency"`
	MaxConcurrent    int     `json:"max_concurrent"`
	// Planner is the planner's report with order optimize; omitted
	// otherwise.
	Planner *PlannerReport `json:"planner,omitempty"`
	// Order and VMs are the Result's start order and per-VM results,
	// kept only with detail; omitted otherwise.
	Order []string   `json:"order,omitempty"`
	VMs   []VMResult `json:"vms,omitempty"`
}

// Summary returns r on one row, with its start order and per-VM results
// when detail.
func (r *Result) Summary(detail bool) Summary {
	s := Summary{
		Scenario: r.Scenario, Seed: r.Seed, MakespanS: r.MakespanS, Completed: r.Completed,
		VMsNotConverged: r.VMsNotConverged, VMsNotConvergedCount: len(r.VMsNotConverged), VMCount: len(r.VMs),
		VMsOverDowntimeLimit: r.VMsOverDowntimeLimit, VMsOverDowntimeLimitCount: len(r.VMsOverDowntimeLimit),
		WorstDowntimeS: r.WorstDowntimeS, SumDowntimeS: r.SumDowntimeS, TransferredBytes: r.TransferredBytes,
		PeakConcurrency: r.PeakConcurrency, MaxConcurrent: r.MaxConcurrent, Planner: r.Planner,
	}
	if s.VMsNotConverged == nil {
		s.VMsNotConverged = []string{}
	}
	if s.VMsOverDowntimeLimit == nil {
		s.VMsOverDowntimeLimit = []string{}
	}
	if detail {
		s.Order, s.VMs = r.Order, r.VMs
	}
	return s
}

// LoadData is [Load] for a fleet file already read: data is the text of
// file, which is not read again (a sweep over fleets loads one base with
// each point's overrides).
func LoadData(file string, data []byte, overrides []string) (*Spec, error) {
	return load(file, data, overrides)
}
