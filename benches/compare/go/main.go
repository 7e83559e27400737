// Go's crypto/rsa as a peer for benches/compare/compare.sh: key generation
// (2048 bits) and the PKCS #1 v1.5 private operation on the same encrypted
// key bytes as mdmlink, timed in-process. Standard library only.
//
// usage: go run main.go KEY.pem ENC_KEY.bin RUNS
// prints "name value unit" lines.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "go peer:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fail(fmt.Errorf("usage: main KEY.pem ENC_KEY.bin RUNS"))
	}
	pemBytes, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	encKey, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	runs, err := strconv.Atoi(os.Args[3])
	if err != nil || runs < 1 {
		fail(fmt.Errorf("RUNS must be a positive integer"))
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		fail(fmt.Errorf("no PEM block in %s", os.Args[1]))
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		fail(err)
	}
	key.Precompute()

	var times []float64
	for i := 0; i < runs; i++ {
		start := time.Now()
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			fail(err)
		}
		times = append(times, time.Since(start).Seconds())
	}
	fmt.Printf("keygen_2048 %.3f ms\n", median(times)*1e3)

	// Warm up, then the median of 15 batches of 40 operations.
	if _, err := rsa.DecryptPKCS1v15(rand.Reader, key, encKey); err != nil {
		fail(err)
	}
	times = times[:0]
	for b := 0; b < 15; b++ {
		start := time.Now()
		for i := 0; i < 40; i++ {
			if _, err := rsa.DecryptPKCS1v15(rand.Reader, key, encKey); err != nil {
				fail(err)
			}
		}
		times = append(times, time.Since(start).Seconds()/40)
	}
	fmt.Printf("rsa_decrypt_2048 %.3f us\n", median(times)*1e6)
}
