package sweep

import "testing"

// TestShardCountIndex: Count and Index agree with Points, which lists
// the shard.
func TestShardCountIndex(t *testing.T) {
	for _, s := range []Shard{{}, {1, 1}, {1, 3}, {2, 3}, {3, 3}, {5, 7}} {
		for n := range 20 {
			pts := s.Points(n)
			if c := s.Count(n); c != len(pts) {
				t.Errorf("shard %v of %d: Count %d, want %d", s, n, c, len(pts))
			}
			for j, p := range pts {
				if i := s.Index(j); i != p {
					t.Errorf("shard %v of %d: Index(%d) = %d, want %d", s, n, j, i, p)
				}
			}
		}
	}
}
