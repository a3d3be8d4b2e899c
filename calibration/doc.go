// Package calibration holds calibration profiles: the physical parameters
// the migration models leave free (the share of max-bandwidth the live
// rounds achieve, single-stream and multifd, the link rate of
// stop-and-copy, fixed setup and resume costs, the dirty-sync cost, the
// per-page header, the device state, the post-copy fault service time, a
// CPU cost factor), fitted to real migrations by "migsim
// calibrate" (package calibration/fit) and selected by a scenario with the
// top-level key
//
//	calibration: local-tcg          # a built-in profile, see Names
//	calibration: my-cluster.yaml    # a profile file, relative to the scenario
//
// The built-in profiles are embedded in the binary (profiles/*.yaml). The
// package also names the metrics a fit weighs ([Metrics], [Weights]: a
// validation suite file carries them). It sits below scenarios in the
// import graph so that scenarios can apply a profile, validate keep the
// suite's weights and calibration/fit fit one with the same types.
package calibration
