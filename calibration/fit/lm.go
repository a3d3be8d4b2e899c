package fit

import (
	"math"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// lmProblem is a least-squares problem for levenbergMarquardt: the
// residuals at x (their squares sum to the objective) and the
// finite-difference step of each coordinate at x.
type lmProblem struct {
	residuals func(x []float64) []float64
	step      func(i int, x []float64) float64
}

// lmResult is where levenbergMarquardt stopped: the best point, its
// residuals, the objective (sum of squared residuals) and the
// evaluations spent.
type lmResult struct {
	x, r   []float64
	f      float64
	evals  int
	status string
}

// jacobian returns the forward-difference Jacobian of p's residuals at x,
// whose residuals are r: one evaluation per coordinate.
func (p lmProblem) jacobian(x, r []float64) *mat.Dense {
	jac := mat.NewDense(len(r), len(x), nil)
	for i := range x {
		h := p.step(i, x)
		xh := append([]float64(nil), x...)
		xh[i] += h
		rh := p.residuals(xh)
		for k := range r {
			jac.Set(k, i, (rh[k]-r[k])/h)
		}
	}
	return jac
}

// levenbergMarquardt minimises the sum of squared residuals of p from x0
// within budget evaluations of the residuals: each iteration builds a
// forward-difference Jacobian J (one evaluation per coordinate) and tries
// steps δ solving (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr, raising λ tenfold after a
// step that does not lower the objective and lowering it after one that
// does (Marquardt's scaling makes the steps invariant to the
// coordinates' units). It stops when the budget is spent, at an exact
// fit, or when λ passes 1e10 (no descent direction left at the
// finite-difference scale). A tiny decrease does not stop it: on a rough
// objective the next Jacobian may point somewhere better.
// The steps are coarse on purpose (a few percent of each parameter, see
// calParam): the simulated objective is piecewise constant at fine scales
// (whole pages, whole rounds), where an infinitesimal derivative is zero.
func levenbergMarquardt(p lmProblem, x0 []float64, budget int) lmResult {
	n := len(x0)
	x := append([]float64(nil), x0...)
	r := p.residuals(x)
	f := floats.Dot(r, r)
	res := lmResult{x: x, r: r, f: f, evals: 1, status: "evaluation budget spent"}
	lambda := 1e-2
	for res.evals+n+1 <= budget {
		jac := p.jacobian(x, r)
		res.evals += n
		var jtj mat.SymDense
		jtj.SymOuterK(1, jac.T())
		var g mat.VecDense
		g.MulVec(jac.T(), mat.NewVecDense(len(r), r))
		accepted := false
		for res.evals < budget && lambda <= 1e10 {
			a := mat.NewDense(n, n, nil)
			a.Copy(&jtj)
			for i := range n {
				d := jtj.At(i, i)
				if d == 0 {
					d = 1e-12 // a coordinate that acts nowhere here stays put
				}
				a.Set(i, i, d*(1+lambda))
			}
			var delta mat.VecDense
			if err := delta.SolveVec(a, &g); err != nil {
				lambda *= 10
				continue
			}
			xn := make([]float64, n)
			for i := range n {
				xn[i] = x[i] - delta.AtVec(i)
			}
			rn := p.residuals(xn)
			res.evals++
			fn := floats.Dot(rn, rn)
			if fn < f {
				x, r, f = xn, rn, fn
				res.x, res.r, res.f = x, r, f
				lambda = math.Max(lambda/10, 1e-9)
				accepted = true
				if f == 0 {
					res.status = "exact fit"
					return res
				}
				break
			}
			lambda *= 10
		}
		if !accepted {
			if lambda > 1e10 {
				res.status = "no descent at the finite-difference scale"
			}
			return res
		}
	}
	return res
}

// Estimate is one fitted parameter with its standard error from the
// linearised least-squares problem at the fit: √(s²·(JᵀJ)⁻¹ᵢᵢ), with J
// the Jacobian of the weighted relative errors with respect to the
// parameters (finite differences at calParam's step) and s² the residual
// variance, objective / (residuals − parameters). StdErr is +Inf when the
// runs do not determine the parameter: at a bound of its range, or not
// apart from the others (JᵀJ singular), or with no more residuals than
// parameters.
type Estimate struct {
	Name    string  `json:"name"`
	Value   float64 `json:"value"`
	StdErr  float64 `json:"std_err"`
	AtBound bool    `json:"at_bound,omitempty"`
}

// estimates returns the Estimates of params at free point x, from the
// Jacobian jac (with respect to x) and the residuals r there. A parameter
// within a thousandth of its range of a bound is reported at it and left
// out of the covariance.
func estimates(params []calParam, x []float64, jac *mat.Dense, r []float64) []Estimate {
	m, _ := jac.Dims()
	out := make([]Estimate, len(params))
	var keep []int
	for i, c := range params {
		v := c.fromFree(x[i])
		out[i] = Estimate{Name: c.name, Value: v, StdErr: math.Inf(1)}
		u := 1 / (1 + math.Exp(-x[i])) // position in the range, 0..1
		if u < 1e-3 || u > 1-1e-3 {
			out[i].AtBound = true
			continue
		}
		keep = append(keep, i)
	}
	n := len(keep)
	dof := -n
	for _, v := range r {
		if v != 0 {
			dof++
		}
	}
	if n == 0 || dof <= 0 {
		return out
	}
	// To relative changes of the parameters, v·dr/dv = v·(dr/dx)/(dv/dx),
	// so that JᵀJ is not scaled by the parameters' units (bit/s against
	// seconds): the standard error comes out relative, then × v.
	jv := mat.NewDense(m, n, nil)
	for j, i := range keep {
		d := params[i].slope(x[i])
		for k := range m {
			jv.Set(k, j, jac.At(k, i)/d*out[i].Value)
		}
	}
	var jtj mat.SymDense
	jtj.SymOuterK(1, jv.T())
	var chol mat.Cholesky
	var cov mat.SymDense
	if !chol.Factorize(&jtj) || chol.InverseTo(&cov) != nil {
		return out
	}
	s2 := floats.Dot(r, r) / float64(dof)
	for j, i := range keep {
		if c := cov.At(j, j); c >= 0 {
			out[i].StdErr = math.Abs(out[i].Value) * math.Sqrt(s2*c)
		}
	}
	return out
}
