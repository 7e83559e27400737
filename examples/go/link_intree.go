//go:build mdmlink_intree

package mdmlink

// The static library of this checkout's debug build
// (`cargo build -p mdmlink-capi --lib --features sqlite,http`, which cargo
// names libmdmlink_capi.a), for `go test -tags mdmlink_intree`. With another
// target directory, add it first: CGO_LDFLAGS=-L$CARGO_TARGET_DIR/debug.

// #cgo CFLAGS: -I${SRCDIR}/../../capi/include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/debug -l:libmdmlink_capi.a -lpthread -ldl -lm
import "C"
