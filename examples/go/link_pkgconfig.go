//go:build !mdmlink_intree

package mdmlink

// The installed library (scripts/install.sh writes mdmlink.pc).

// #cgo pkg-config: mdmlink
import "C"
