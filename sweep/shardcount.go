package sweep

// Count returns the number of the shard's points among n, without
// listing them (see [Shard.Points]).
func (s Shard) Count(n int) int {
	if s.Whole() {
		return n
	}
	if n < s.K {
		return 0
	}
	return (n-s.K)/s.N + 1
}

// Index returns the sweep index of the shard's j-th point (from 0).
func (s Shard) Index(j int) int {
	if s.Whole() {
		return j
	}
	return s.K - 1 + j*s.N
}
