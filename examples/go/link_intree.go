//go:build mdmlink_intree

package mdmlink

// The static library of this checkout's debug build
// (`cargo build --lib --features capi,sqlite,http`), for `go test -tags mdmlink_intree`.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/debug/libmdmlink.a -lpthread -ldl -lm
import "C"
