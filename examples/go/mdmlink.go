// Package mdmlink wraps the mdmlink C API (capi/include/mdmlink.h) for Go.
//
// Handles (Keypair, Token, Organization) own a C pointer: call Close when
// done (it is idempotent); a finalizer frees it otherwise. Errors are *Error
// values carrying the C status and message.
//
// The package links the installed C library through pkg-config
// (`#cgo pkg-config: mdmlink`, see link_pkgconfig.go): install it with
// `scripts/install.sh PREFIX` and set PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
// (and, outside the loader's default paths, LD_LIBRARY_PATH=PREFIX/lib).
// Inside this checkout, `go test -tags mdmlink_intree` links the debug build's
// static library instead (link_intree.go; build it with
// `cargo build -p mdmlink-capi --lib --features sqlite,http`).
package mdmlink

/*
#include <stdlib.h>
#include "mdmlink.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Status is a mdmlink_status value.
type Status uint32

// A few statuses callers commonly test for; see the C header for all.
const (
	StatusOK                  Status = C.MDMLINK_STATUS_OK
	StatusNullArgument        Status = C.MDMLINK_STATUS_NULL_ARGUMENT
	StatusPanic               Status = C.MDMLINK_STATUS_PANIC
	StatusInvalidArgument     Status = C.MDMLINK_STATUS_INVALID_ARGUMENT
	StatusFeatureNotEnabled   Status = C.MDMLINK_STATUS_FEATURE_NOT_ENABLED
	StatusInvalidName         Status = C.MDMLINK_STATUS_INVALID_NAME
	StatusKeyMalformed        Status = C.MDMLINK_STATUS_KEY_MALFORMED
	StatusKeyWrongPassword    Status = C.MDMLINK_STATUS_KEY_WRONG_PASSWORD
	StatusTokenFormat         Status = C.MDMLINK_STATUS_TOKEN_FORMAT
	StatusTokenWrongRecipient Status = C.MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT
	StatusTokenDecrypt        Status = C.MDMLINK_STATUS_TOKEN_DECRYPT
	StatusDuplicateName       Status = C.MDMLINK_STATUS_DUPLICATE_NAME
	StatusNotFound            Status = C.MDMLINK_STATUS_NOT_FOUND

	StatusSessionUnauthorized     Status = C.MDMLINK_STATUS_SESSION_UNAUTHORIZED
	StatusSessionTokenExpired     Status = C.MDMLINK_STATUS_SESSION_TOKEN_EXPIRED
	StatusSessionExpired          Status = C.MDMLINK_STATUS_SESSION_EXPIRED
	StatusSessionTermsNotAccepted Status = C.MDMLINK_STATUS_SESSION_TERMS_NOT_ACCEPTED
	StatusSessionMalformed        Status = C.MDMLINK_STATUS_SESSION_MALFORMED_RESPONSE

	StatusDepCursor          Status = C.MDMLINK_STATUS_DEP_CURSOR
	StatusDepRepeatedCursor  Status = C.MDMLINK_STATUS_DEP_REPEATED_CURSOR
	StatusDepProfileNotFound Status = C.MDMLINK_STATUS_DEP_PROFILE_NOT_FOUND
)

// String is the status's C name, e.g. "MDMLINK_STATUS_TOKEN_DECRYPT".
func (s Status) String() string {
	name := C.mdmlink_status_name(C.uint32_t(s))
	if name == nil {
		return fmt.Sprintf("mdmlink_status(%d)", uint32(s))
	}
	return C.GoString(name)
}

// Error is a failed call: its status and mdmlink's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("mdmlink: %s (%s)", e.Message, e.Status) }

// check turns a status and error object into a Go error, freeing the object.
func check(status C.mdmlink_status, cerr *C.mdmlink_error) error {
	defer C.mdmlink_error_free(cerr)
	if status == C.MDMLINK_STATUS_OK {
		return nil
	}
	e := &Error{Status: Status(status)}
	if cerr != nil {
		e.Message = C.GoString(C.mdmlink_error_message(cerr))
	}
	return e
}

// bytesArg passes a Go slice to C without copying; C does not keep it.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// takeBytes copies an owned mdmlink_bytes into Go memory and frees (zeroes) it.
func takeBytes(b *C.mdmlink_bytes) []byte {
	defer C.mdmlink_bytes_free(b)
	return C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
}

// cString allocates a C copy of s; free it with C.free. Empty gives NULL when optional.
func cString(s string, optional bool) *C.char {
	if optional && s == "" {
		return nil
	}
	return C.CString(s)
}

// Version is the C library's version.
func Version() string { return C.GoString(C.mdmlink_version()) }

// HeaderABIVersion is the ABI version of the header this package was compiled
// against (MDMLINK_ABI_VERSION).
const HeaderABIVersion = uint32(C.MDMLINK_ABI_VERSION)

// ABIVersion is the ABI version of the library loaded at run time (the number
// in its SONAME, libmdmlink.so.0.<minor> for 0.x). It differs from
// HeaderABIVersion when a program runs against a library it was not built for.
func ABIVersion() uint32 { return uint32(C.mdmlink_abi_version()) }

// CheckServerName checks a server name against the portal's rules.
func CheckServerName(name string) error {
	cname := cString(name, false)
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.mdmlink_error
	return check(C.mdmlink_server_name_check(cname, &cerr), cerr)
}

// Keypair is a server's RSA private key and, when known, its certificate.
type Keypair struct {
	mu  sync.Mutex
	ptr *C.mdmlink_keypair
}

func newKeypair(ptr *C.mdmlink_keypair) *Keypair {
	k := &Keypair{ptr: ptr}
	runtime.SetFinalizer(k, (*Keypair).Close)
	return k
}

// Close frees the key (zeroing it). Safe to call more than once.
func (k *Keypair) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	C.mdmlink_keypair_free(k.ptr)
	k.ptr = nil
	runtime.SetFinalizer(k, nil)
	return nil
}

// GenerateKeypair makes a new RSA key (2048, 3072 or 4096 bits) and its
// self-signed certificate valid from now, using the OS random number generator.
func GenerateKeypair(bits int, commonName string, now time.Time) (*Keypair, error) {
	cn := cString(commonName, false)
	defer C.free(unsafe.Pointer(cn))
	var out *C.mdmlink_keypair
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_keypair_generate(C.uint32_t(bits), cn, C.int64_t(now.Unix()), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newKeypair(out), nil
}

// KeypairFromPEM reads a private key (and a certificate in the same text, if
// any). password is "" for an unencrypted key.
func KeypairFromPEM(pem []byte, password string) (*Keypair, error) {
	cpw := cString(password, true)
	defer C.free(unsafe.Pointer(cpw))
	ptr, n := bytesArg(pem)
	var out *C.mdmlink_keypair
	var cerr *C.mdmlink_error
	status := C.mdmlink_keypair_from_pem(ptr, n, cpw, &out, &cerr)
	runtime.KeepAlive(pem)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return newKeypair(out), nil
}

// CertificatePEM is the certificate to upload to the portal.
func (k *Keypair) CertificatePEM() ([]byte, error) {
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	status := C.mdmlink_keypair_certificate_pem(k.ptr, &out, &cerr)
	runtime.KeepAlive(k)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// Token is an opened server token.
type Token struct {
	mu  sync.Mutex
	ptr *C.mdmlink_token
}

func newToken(ptr *C.mdmlink_token) *Token {
	t := &Token{ptr: ptr}
	runtime.SetFinalizer(t, (*Token).Close)
	return t
}

// Close frees the token (zeroing its secrets). Safe to call more than once.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	C.mdmlink_token_free(t.ptr)
	t.ptr = nil
	runtime.SetFinalizer(t, nil)
	return nil
}

// OpenToken opens a server token file (*_smime.p7m) with the server's keypair.
func OpenToken(k *Keypair, data []byte) (*Token, error) {
	ptr, n := bytesArg(data)
	var out *C.mdmlink_token
	var cerr *C.mdmlink_error
	status := C.mdmlink_token_open(k.ptr, ptr, n, &out, &cerr)
	runtime.KeepAlive(k)
	runtime.KeepAlive(data)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return newToken(out), nil
}

func (t *Token) field(get func(*C.mdmlink_token) *C.char) string {
	s := get(t.ptr)
	defer runtime.KeepAlive(t)
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// ConsumerKey is the token's consumer key (CK_...).
func (t *Token) ConsumerKey() string {
	return t.field(func(p *C.mdmlink_token) *C.char { return C.mdmlink_token_consumer_key(p) })
}

// ConsumerSecret is the token's consumer secret (CS_...). Secret.
func (t *Token) ConsumerSecret() string {
	return t.field(func(p *C.mdmlink_token) *C.char { return C.mdmlink_token_consumer_secret(p) })
}

// AccessToken is the token's access token (AT_...). Secret.
func (t *Token) AccessToken() string {
	return t.field(func(p *C.mdmlink_token) *C.char { return C.mdmlink_token_access_token(p) })
}

// AccessSecret is the token's access secret (AS_...). Secret.
func (t *Token) AccessSecret() string {
	return t.field(func(p *C.mdmlink_token) *C.char { return C.mdmlink_token_access_secret(p) })
}

// Expiry is when the access token expires.
func (t *Token) Expiry() time.Time {
	unix := C.mdmlink_token_expiry_unix(t.ptr)
	runtime.KeepAlive(t)
	return time.Unix(int64(unix), 0).UTC()
}

// NewToken builds a token from its parts (for tests and simulators).
func NewToken(consumerKey, consumerSecret, accessToken, accessSecret string, expiry time.Time) (*Token, error) {
	ck, cs := C.CString(consumerKey), C.CString(consumerSecret)
	at, as := C.CString(accessToken), C.CString(accessSecret)
	defer func() {
		for _, p := range []*C.char{ck, cs, at, as} {
			C.free(unsafe.Pointer(p))
		}
	}()
	var out *C.mdmlink_token
	var cerr *C.mdmlink_error
	status := C.mdmlink_token_new(ck, cs, at, as, C.int64_t(expiry.Unix()), &out, &cerr)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return newToken(out), nil
}

// AuthorizationHeader is the OAuth 1.0a Authorization value that signs
// GET url (e.g. "https://mdmenrollment.apple.com/session") at now with nonce
// ("" draws a random one). It carries the access token: treat it as a secret.
func (t *Token) AuthorizationHeader(url string, now time.Time, nonce string) (string, error) {
	curl, cnonce := C.CString(url), cString(nonce, true)
	defer C.free(unsafe.Pointer(curl))
	defer C.free(unsafe.Pointer(cnonce))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	t.mu.Lock()
	status := C.mdmlink_session_authorization_header(t.ptr, curl, C.int64_t(now.Unix()), cnonce, &out, &cerr)
	t.mu.Unlock()
	runtime.KeepAlive(t)
	if err := check(status, cerr); err != nil {
		return "", err
	}
	return string(takeBytes(&out)), nil
}

// ParseSessionResponse reads the reply to GET /session (HTTP status and
// body) and returns the X-ADM-Auth-Session token, or an *Error whose Status
// says what Apple's service meant (StatusSessionTermsNotAccepted, ...).
func ParseSessionResponse(httpStatus int, body []byte, baseURL string) (string, error) {
	if httpStatus < 0 || httpStatus > 0xFFFF {
		return "", &Error{Status: StatusInvalidArgument, Message: "not an HTTP status"}
	}
	ptr, n := bytesArg(body)
	cbase := C.CString(baseURL)
	defer C.free(unsafe.Pointer(cbase))
	var out *C.mdmlink_session
	var cerr *C.mdmlink_error
	status := C.mdmlink_session_parse_response(C.uint16_t(httpStatus), ptr, n, cbase, &out, &cerr)
	runtime.KeepAlive(body)
	if err := check(status, cerr); err != nil {
		return "", err
	}
	defer C.mdmlink_session_free(out)
	return C.GoString(C.mdmlink_session_auth_token(out)), nil
}

// DepClient talks to the device assignment service for one server (the C
// mdmlink_dep_client): sessions are opened and renewed inside.
type DepClient struct {
	mu  sync.Mutex
	ptr *C.mdmlink_dep_client
}

// NewDepClient makes a client for token at baseURL ("https://mdmenrollment.apple.com"
// or a simulator's URL); protocolVersion "" sends the default ("10").
func NewDepClient(token *Token, baseURL, protocolVersion string) (*DepClient, error) {
	curl, cver := cString(baseURL, false), cString(protocolVersion, true)
	defer C.free(unsafe.Pointer(curl))
	defer C.free(unsafe.Pointer(cver))
	var out *C.mdmlink_dep_client
	var cerr *C.mdmlink_error
	status := C.mdmlink_dep_client_new(token.ptr, curl, cver, &out, &cerr)
	runtime.KeepAlive(token)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	c := &DepClient{ptr: out}
	runtime.SetFinalizer(c, (*DepClient).Close)
	return c, nil
}

// Close frees the client. Safe to call more than once.
func (c *DepClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	C.mdmlink_dep_client_free(c.ptr)
	c.ptr = nil
	runtime.SetFinalizer(c, nil)
	return nil
}

// SyncStep fetches the next page after cursor (nil: a full fetch). It returns
// the page as JSON ({"phase","done","restart","more_to_follow","devices"}) and
// the cursor to save once the page is stored.
func (c *DepClient) SyncStep(cursor []byte, now time.Time) (page []byte, next []byte, err error) {
	ptr, n := bytesArg(cursor)
	var outPage, outCursor C.mdmlink_bytes
	var cerr *C.mdmlink_error
	status := C.mdmlink_dep_sync_step(c.ptr, ptr, n, C.int64_t(now.Unix()), &outPage, &outCursor, &cerr)
	runtime.KeepAlive(c)
	runtime.KeepAlive(cursor)
	if err := check(status, cerr); err != nil {
		return nil, nil, err
	}
	return takeBytes(&outPage), takeBytes(&outCursor), nil
}

// DefineProfile defines a profile from its JSON and returns the reply JSON
// ({"profile_uuid", "devices"}).
func (c *DepClient) DefineProfile(profileJSON []byte) ([]byte, error) {
	ptr, n := bytesArg(profileJSON)
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	status := C.mdmlink_dep_profile_define(c.ptr, ptr, n, &out, &cerr)
	runtime.KeepAlive(c)
	runtime.KeepAlive(profileJSON)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// AssignProfile assigns the profile to serials (any number) and returns the
// reply JSON ({"profile_uuid", "devices": {serial: status}, "requests"}).
func (c *DepClient) AssignProfile(profileUUID string, serials []string) ([]byte, error) {
	cuuid := C.CString(profileUUID)
	defer C.free(unsafe.Pointer(cuuid))
	list := C.malloc(C.size_t(len(serials)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(list)
	ptrs := unsafe.Slice((**C.char)(list), len(serials)+1)
	for i, s := range serials {
		ptrs[i] = C.CString(s)
	}
	defer func() {
		for i := range serials {
			C.free(unsafe.Pointer(ptrs[i]))
		}
	}()
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	status := C.mdmlink_dep_profile_assign(c.ptr, cuuid, (**C.char)(list), C.size_t(len(serials)), &out, &cerr)
	runtime.KeepAlive(c)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}
