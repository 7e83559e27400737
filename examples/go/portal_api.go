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
	"time"
	"unsafe"
)

// Statuses of Apple's School and Business Manager API calls.
const (
	StatusAPIAccountExists   = Status(C.MDMLINK_STATUS_API_ACCOUNT_EXISTS)
	StatusAlreadyStaged      = Status(C.MDMLINK_STATUS_ALREADY_STAGED)
	StatusAPIAccountInvalid  = Status(C.MDMLINK_STATUS_API_ACCOUNT_INVALID)
	StatusAPIBusinessOnly    = Status(C.MDMLINK_STATUS_API_BUSINESS_ONLY)
	StatusNameTakenInPortal  = Status(C.MDMLINK_STATUS_NAME_TAKEN_IN_PORTAL)
	StatusNotInPortal        = Status(C.MDMLINK_STATUS_NOT_IN_PORTAL)
	StatusPortalMismatch     = Status(C.MDMLINK_STATUS_PORTAL_MISMATCH)
	StatusAPIRefused         = Status(C.MDMLINK_STATUS_API_REFUSED)
	StatusAPIUncertain       = Status(C.MDMLINK_STATUS_API_UNCERTAIN)
	StatusAPITokenRefused    = Status(C.MDMLINK_STATUS_API_TOKEN_REFUSED)
	StatusAPIActivityTimeout = Status(C.MDMLINK_STATUS_API_ACTIVITY_TIMED_OUT)
)

// APIConnection says where Apple's School and Business Manager API is:
// empty fields are Apple's URLs (the API base by the account's scope, the
// token endpoint https://account.apple.com/auth/oauth2/token); a
// simulator's for tests.
type APIConnection struct {
	BaseURL  string
	TokenURL string
}

func (c APIConnection) cStrings() (*C.char, *C.char) {
	return cString(c.BaseURL, true), cString(c.TokenURL, true)
}

// AddAPIAccount keeps the organization's API account (org empty: the only
// organization): client ID, key ID and the EC P-256 key downloaded from the
// portal (PEM or DER). A second account needs replace.
func (s *Store) AddAPIAccount(org, clientID, keyID string, key []byte, replace bool, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cid, ckid := cString(org, true), C.CString(clientID), C.CString(keyID)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cid))
	defer C.free(unsafe.Pointer(ckid))
	k, klen := bytesArg(key)
	var cerr *C.mdmlink_error
	err := check(C.mdmlink_store_api_account_add(s.ptr, corg, cid, ckid, k, klen, C.bool(replace),
		C.int64_t(now.Unix()), &cerr), cerr)
	runtime.KeepAlive(key)
	return err
}

// PortalServer is one object of mdmlink_store_api_servers_json: the
// portal's id and Apple's attributes.
type PortalServer struct {
	ID              string `json:"id"`
	ServerName      string `json:"serverName"`
	ServerType      string `json:"serverType"`
	CreatedDateTime string `json:"createdDateTime"`
	UpdatedDateTime string `json:"updatedDateTime"`
}

// APIServers lists the portal's servers with the organization's API account.
func (s *Store) APIServers(org string, conn APIConnection) ([]PortalServer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg := cString(org, true)
	defer C.free(unsafe.Pointer(corg))
	base, token := conn.cStrings()
	defer C.free(unsafe.Pointer(base))
	defer C.free(unsafe.Pointer(token))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_api_servers_json(s.ptr, corg, base, token, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var list []PortalServer
	if err := json.Unmarshal(takeBytes(&out), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// PortalDevice is one object of mdmlink_store_api_devices_json (a few of
// Apple's attributes; a server's devices carry only SerialNumber).
type PortalDevice struct {
	SerialNumber  string `json:"serialNumber"`
	Status        string `json:"status"`
	ProductFamily string `json:"productFamily"`
	DeviceModel   string `json:"deviceModel"`
}

// APIDevices lists the organization's devices in the portal, or those of
// the server named server when not empty.
func (s *Store) APIDevices(org, server string, conn APIConnection) ([]PortalDevice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cserver := cString(org, true), cString(server, true)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cserver))
	base, token := conn.cStrings()
	defer C.free(unsafe.Pointer(base))
	defer C.free(unsafe.Pointer(token))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_api_devices_json(s.ptr, corg, cserver, base, token, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var list []PortalDevice
	if err := json.Unmarshal(takeBytes(&out), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// ActivityReport is one activity of an ActivitiesReport.
type ActivityReport struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	SubStatus *string `json:"subStatus"`
	LogURL    *string `json:"logUrl"`
	Devices   int     `json:"devices"`
	Succeeded bool    `json:"succeeded"`
}

// ActivitiesReport is mdmlink_store_api_assign's outcome.
type ActivitiesReport struct {
	ActivityType string           `json:"activityType"`
	ServerID     string           `json:"serverId"`
	Devices      int              `json:"devices"`
	Completed    bool             `json:"completed"`
	Activities   []ActivityReport `json:"activities"`
}

// APIAssign assigns (or with unassign, unassigns) serials to (from) the
// portal's server named server and waits for the activities. A nil error
// means they ran to their end; Completed says whether every device moved.
func (s *Store) APIAssign(org, server string, serials []string, unassign bool, conn APIConnection) (*ActivitiesReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cserver := cString(org, true), C.CString(server)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cserver))
	base, token := conn.cStrings()
	defer C.free(unsafe.Pointer(base))
	defer C.free(unsafe.Pointer(token))
	list := C.malloc(C.size_t(len(serials)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(list)
	ptrs := unsafe.Slice((**C.char)(list), len(serials)+1)
	for i, serial := range serials {
		ptrs[i] = C.CString(serial)
	}
	defer func() {
		for i := range serials {
			C.free(unsafe.Pointer(ptrs[i]))
		}
	}()
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	status := C.mdmlink_store_api_assign(s.ptr, corg, cserver, (**C.char)(list), C.size_t(len(serials)),
		C.bool(unassign), base, token, &out, &cerr)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	var report ActivitiesReport
	if err := json.Unmarshal(takeBytes(&out), &report); err != nil {
		return nil, err
	}
	return &report, nil
}

// AddServerViaAPI adds server name to org through the API (Apple Business
// only): checked locally, created in the portal with a new bits-bit key's
// certificate, stored with the portal's id. It returns the certificate
// (PEM); the admin then downloads the token from the server's page.
func (s *Store) AddServerViaAPI(org, name string, bits uint32, releaseDevices bool, now time.Time, conn APIConnection) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cname := cString(org, true), C.CString(name)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cname))
	base, token := conn.cStrings()
	defer C.free(unsafe.Pointer(base))
	defer C.free(unsafe.Pointer(token))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_server_add_via_api(s.ptr, corg, cname, C.uint32_t(bits), C.bool(releaseDevices),
		C.int64_t(now.Unix()), base, token, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// RotateKeyViaAPI stages a new bits-bit key for server name of org and
// replaces its certificate in the portal (Apple Business only). The current
// token keeps working until the new one is installed, which promotes the
// key. It returns the staged certificate (PEM).
func (s *Store) RotateKeyViaAPI(org, name string, bits uint32, now time.Time, conn APIConnection) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg, cname := cString(org, true), C.CString(name)
	defer C.free(unsafe.Pointer(corg))
	defer C.free(unsafe.Pointer(cname))
	base, token := conn.cStrings()
	defer C.free(unsafe.Pointer(base))
	defer C.free(unsafe.Pointer(token))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_server_rotate_key_via_api(s.ptr, corg, cname, C.uint32_t(bits),
		C.int64_t(now.Unix()), base, token, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// RemoveAPIAccount removes org's API account (its sealed key with it).
func (s *Store) RemoveAPIAccount(org string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg := cString(org, true)
	defer C.free(unsafe.Pointer(corg))
	var cerr *C.mdmlink_error
	return check(C.mdmlink_store_api_account_remove(s.ptr, corg, &cerr), cerr)
}

// NameDifference is a store server named differently in the portal.
type NameDifference struct {
	StoreName      string `json:"storeName"`
	PortalName     string `json:"portalName"`
	PortalServerID string `json:"portalServerId"`
}

// ReconcileReport is mdmlink_store_api_reconcile_json's report.
type ReconcileReport struct {
	Agrees          bool             `json:"agrees"`
	MissingInPortal []string         `json:"missingInPortal"`
	UnknownToStore  []PortalServer   `json:"unknownToStore"`
	NamesDiffer     []NameDifference `json:"namesDiffer"`
	Matched         [][2]string      `json:"matched"`
}

// APIReconcile compares org's servers in the store with the portal's.
func (s *Store) APIReconcile(org string, conn APIConnection) (*ReconcileReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	corg := cString(org, true)
	defer C.free(unsafe.Pointer(corg))
	base, token := conn.cStrings()
	defer C.free(unsafe.Pointer(base))
	defer C.free(unsafe.Pointer(token))
	var out C.mdmlink_bytes
	var cerr *C.mdmlink_error
	if err := check(C.mdmlink_store_api_reconcile_json(s.ptr, corg, base, token, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	var report ReconcileReport
	if err := json.Unmarshal(takeBytes(&out), &report); err != nil {
		return nil, err
	}
	return &report, nil
}
