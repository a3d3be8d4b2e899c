// Package units parses and prints the human units used in scenario files and
// on the command line: sizes ("4GiB", "512KiB"), bit rates ("10Gbit",
// "40MiB/s") and durations ("300ms").
//
// Sizes use IEC binary prefixes (KiB = 1024 B) and SI decimal prefixes
// (kB = 1000 B). Bit rates are stored in bits per second; a rate may be
// written in bits ("10Gbit", "10Gbps", "100Mbit/s") or in bytes per second
// ("40MiB/s", "1.25GB/s"). A bare number is accepted for sizes (bytes) and
// rates (bits per second) but never for durations, where "600" could mean
// seconds or nanoseconds: a duration needs a unit, except 0.
package units
