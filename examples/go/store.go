package mdmlink

/*
#define MDMLINK_STORE 1
#include <stdlib.h>
#include "mdmlink.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Portals, as mdmlink_portal.
const (
	PortalBusinessManager      = uint32(C.MDMLINK_PORTAL_BUSINESS_MANAGER)
	PortalSchoolManager        = uint32(C.MDMLINK_PORTAL_SCHOOL_MANAGER)
	PortalBusinessEssentials   = uint32(C.MDMLINK_PORTAL_BUSINESS_ESSENTIALS)
	StatusMasterKeyRequired    = Status(C.MDMLINK_STATUS_MASTER_KEY_REQUIRED)
	StatusMasterKeyWrong       = Status(C.MDMLINK_STATUS_MASTER_KEY_WRONG)
	StatusOrganizationRequired = Status(C.MDMLINK_STATUS_ORGANIZATION_REQUIRED)
)

// Store is an open mdmlink store (an SQLite file of organizations and
// servers, secrets under a master key). Safe for concurrent use.
type Store struct {
	mu  sync.Mutex
	ptr *C.mdmlink_store
}

// OpenStore opens (creating) the store at path with a 32-byte master key,
// or a passphrase, or neither (secrets then unencrypted in the 0600 file).
// With a library built with the postgres feature, path may also be a
// postgres://USER:PASSWORD@HOST/DB?sslmode=require URL shared by several
// instances (a master key is then required to store secrets).
func OpenStore(path string, key []byte, passphrase string) (*Store, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cpass := cString(passphrase, true)
	defer C.free(unsafe.Pointer(cpass))
	k, klen := bytesArg(key)
	var ptr *C.mdmlink_store
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_open(cpath, k, klen, cpass, &ptr, &cerr), cerr); err != nil {
		return nil, err
	}
	runtime.KeepAlive(key)
	s := &Store{ptr: ptr}
	runtime.SetFinalizer(s, func(s *Store) { s.Close() })
	return s, nil
}

// Close frees the store handle; it is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	C.mdmlink_store_free(s.ptr)
	s.ptr = nil
	return nil
}

// AddOrganization adds a portal account (customer may be empty).
func (s *Store) AddOrganization(name string, portal uint32, customer string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cname, ccust := C.CString(name), cString(customer, true)
	defer C.free(unsafe.Pointer(cname))
	defer C.free(unsafe.Pointer(ccust))
	var cerr *C.mdmlink_error
	return check(C.mdmlink_store_organization_add(s.ptr, cname, C.uint32_t(portal), ccust, &cerr), cerr)
}

// ImportServer brings in a server linked elsewhere: its key and its
// certificate (both required: every server has one), and optionally its
// current token file. org may be empty when the store holds one organization.
func (s *Store) ImportServer(org, name string, key, cert, token []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cname := cString(org, true), C.CString(name)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cname))
	k, klen := bytesArg(key)
	c, clen := bytesArg(cert)
	t, tlen := bytesArg(token)
	var cerr *C.mdmlink_error
	err := check(C.mdmlink_store_server_import(s.ptr, corg, cname, k, klen, nil, c, clen, t, tlen,
		C.int64_t(now.Unix()), &cerr), cerr)
	runtime.KeepAlive(key)
	runtime.KeepAlive(cert)
	runtime.KeepAlive(token)
	return err
}

// ServerListing is one object of mdmlink_store_servers_json.
type ServerListing struct {
	Organization        string  `json:"organization"`
	Name                string  `json:"name"`
	Portal              string  `json:"portal"`
	Expires             *string `json:"expires"`
	Health              string  `json:"health"`
	ConsumerKey         *string `json:"consumer_key"`
	CertificateSerial   *string `json:"certificate_serial"`
	StagingPendingSince *string `json:"staging_pending_since"`
	Replacement         *string `json:"replacement"`
	ServerUUID          *string `json:"server_uuid"`
}

// Servers lists the servers of org (every organization when empty) with
// their health at now; it reads no secret.
func (s *Store) Servers(org string, warnDays uint32, now time.Time) ([]ServerListing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg := cString(org, true)
	defer C.free(unsafe.Pointer(corg))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_servers_json(s.ptr, corg, C.uint32_t(warnDays), C.int64_t(now.Unix()), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var list []ServerListing
	if err := json.Unmarshal(takeBytes(&out), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// ServerToken returns a copy of the server's installed token.
func (s *Store) ServerToken(org, name string) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cname := cString(org, true), C.CString(name)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cname))
	var tok *C.mdmlink_token
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_server_token(s.ptr, corg, cname, &tok, &cerr), cerr); err != nil {
		return nil, err
	}
	return newToken(tok), nil
}

// RemoveServer deletes a server with its keys and token.
func (s *Store) RemoveServer(org, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cname := cString(org, true), C.CString(name)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cname))
	var cerr *C.mdmlink_error
	return check(C.mdmlink_store_server_remove(s.ptr, corg, cname, &cerr), cerr)
}
