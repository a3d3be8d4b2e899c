// Package validate runs migsim scenarios as real QEMU/KVM migrations and
// compares the real figures with the simulator's, to calibrate the models
// and to gate their accuracy in CI.
//
// Nothing lives here yet: the validation lab is the subject of its own
// issue (a guest replayer, a boot kit, local TCG and remote KVM hosts
// driven over QMP, comparison and calibration).
package validate
