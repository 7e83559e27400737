package mdmlink

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreOrganizationsAndSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.sqlite")
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	s, err := OpenStore(path, key, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, org := range []string{"Contoso", "Fabrikam"} {
		if err := s.AddOrganization(org, PortalBusinessManager, ""); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2025, 2, 19, 0, 0, 0, 0, time.UTC) // before the Apple token expires
	keyPEM := readFixture(t, "apple-mdm-client-tests-1.pem")
	// Every server has its certificate: an import gives it with the key.
	certPEM := readFixture(t, "apple-mdm-client-tests-1.crt")
	token := readFixture(t, "apple-mdm-client-tests-1-server-token.p7m")
	for _, org := range []string{"Contoso", "Fabrikam"} {
		if err := s.ImportServer(org, "Main MDM", keyPEM, certPEM, token, now); err != nil {
			t.Fatal(err)
		}
	}
	var e *Error
	if err := s.RemoveServer("", "Main MDM"); !errors.As(err, &e) || e.Status != StatusOrganizationRequired {
		t.Fatalf("want ORGANIZATION_REQUIRED, got %v", err)
	}
	list, err := s.Servers("", 30, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Organization != "Contoso" || list[1].Organization != "Fabrikam" || list[0].Expires == nil {
		t.Fatalf("unexpected listing %+v", list)
	}
	tok, err := s.ServerToken("Fabrikam", "Main MDM")
	if err != nil {
		t.Fatal(err)
	}
	if tok.ConsumerKey() == "" || *list[1].ConsumerKey != tok.ConsumerKey()[:len(*list[1].ConsumerKey)] {
		t.Fatalf("consumer key %q vs listing %q", tok.ConsumerKey(), *list[1].ConsumerKey)
	}
	tok.Close()
	s.Close()
	s.Close() // idempotent

	// Without the key: the listing works, the secrets do not.
	keyless, err := OpenStore(path, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer keyless.Close()
	if _, err := keyless.Servers("Contoso", 30, now); err != nil {
		t.Fatal(err)
	}
	if _, err := keyless.ServerToken("Contoso", "Main MDM"); !errors.As(err, &e) || e.Status != StatusMasterKeyRequired {
		t.Fatalf("want MASTER_KEY_REQUIRED, got %v", err)
	}
}

// readAPIAccount reads the API account a simulator wrote into dir.
func readAPIAccount(t *testing.T, dir string) (string, string, []byte) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return strings.TrimSpace(string(read("api_client_id"))), strings.TrimSpace(string(read("api_key_id"))), read("api_key.pem")
}

func TestStorePortalAPI(t *testing.T) {
	base, dir := startSimulatorWith(t, "--devices", "8", "--seed", "7")
	conn := APIConnection{BaseURL: base, TokenURL: base + "/auth/oauth2/token"}
	s, err := OpenStore(filepath.Join(t.TempDir(), "store.sqlite"), make([]byte, 32), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrganization("Acme", PortalBusinessManager, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clientID, keyID, key := readAPIAccount(t, dir)
	if err := s.AddAPIAccount("Acme", clientID, keyID, key, false, now); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := s.AddAPIAccount("Acme", clientID, keyID, key, false, now); !errors.As(err, &e) || e.Status != StatusAPIAccountExists {
		t.Fatalf("want API_ACCOUNT_EXISTS, got %v", err)
	}
	servers, err := s.APIServers("Acme", conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || servers[0].ServerName != "MDM Server" || servers[1].ServerName != "Lab MDM" || servers[0].ID == "" {
		t.Fatalf("unexpected servers %+v", servers)
	}
	// The portal has the name: nothing is added.
	if _, err := s.AddServerViaAPI("Acme", "Lab MDM", 2048, false, now, conn); !errors.As(err, &e) || e.Status != StatusNameTakenInPortal {
		t.Fatalf("want NAME_TAKEN_IN_PORTAL, got %v", err)
	}
	cert, err := s.AddServerViaAPI("Acme", "Branch MDM", 2048, false, now, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cert), "BEGIN CERTIFICATE") {
		t.Fatalf("not a certificate: %q", cert)
	}
	// The seeded servers were never linked from this store: the report
	// names them, and matches the one added through the API.
	report, err := s.APIReconcile("Acme", conn)
	if err != nil {
		t.Fatal(err)
	}
	if report.Agrees || len(report.MissingInPortal) != 0 || len(report.UnknownToStore) != 2 ||
		len(report.Matched) != 1 || report.Matched[0][0] != "Branch MDM" {
		t.Fatalf("unexpected report %+v", report)
	}
	devices, err := s.APIDevices("Acme", "", conn)
	if err != nil {
		t.Fatal(err)
	}
	serial := ""
	for _, d := range devices {
		if d.Status == "UNASSIGNED" {
			serial = d.SerialNumber
			break
		}
	}
	if len(devices) != 8+8/4 || serial == "" {
		t.Fatalf("unexpected devices %+v", devices)
	}
	outcome, err := s.APIAssign("Acme", "Branch MDM", []string{serial}, false, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !outcome.Completed || outcome.ActivityType != "ASSIGN_DEVICES" || len(outcome.Activities) != 1 ||
		outcome.Activities[0].Status != "COMPLETED" {
		t.Fatalf("unexpected outcome %+v", outcome)
	}
	assigned, err := s.APIDevices("Acme", "Branch MDM", conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(assigned) != 1 || assigned[0].SerialNumber != serial {
		t.Fatalf("unexpected devices of Branch MDM %+v", assigned)
	}
	// Key rotation through the API: a staged certificate, and a second
	// rotation refused while one is staged.
	staged, err := s.RotateKeyViaAPI("Acme", "Branch MDM", 2048, now, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(staged), "BEGIN CERTIFICATE") || string(staged) == string(cert) {
		t.Fatalf("not a new certificate: %q", staged)
	}
	if _, err := s.RotateKeyViaAPI("Acme", "Branch MDM", 2048, now, conn); !errors.As(err, &e) || e.Status != StatusAlreadyStaged {
		t.Fatalf("want ALREADY_STAGED, got %v", err)
	}
	// Without its account the organization cannot reach the API any more.
	if err := s.RemoveAPIAccount("Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIServers("Acme", conn); !errors.As(err, &e) || e.Status != StatusNotFound {
		t.Fatalf("want NOT_FOUND without an API account, got %v", err)
	}
}

func TestStorePortalAPISchoolRefusesAddViaAPI(t *testing.T) {
	base, dir := startSimulatorWith(t, "--devices", "4", "--school")
	conn := APIConnection{BaseURL: base, TokenURL: base + "/auth/oauth2/token"}
	s, err := OpenStore(filepath.Join(t.TempDir(), "store.sqlite"), make([]byte, 32), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrganization("Springfield", PortalSchoolManager, ""); err != nil {
		t.Fatal(err)
	}
	clientID, keyID, key := readAPIAccount(t, dir)
	if err := s.AddAPIAccount("", clientID, keyID, key, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := s.AddServerViaAPI("", "Lab Carts", 2048, false, time.Now(), conn); !errors.As(err, &e) || e.Status != StatusAPIBusinessOnly {
		t.Fatalf("want API_BUSINESS_ONLY, got %v", err)
	}
	list, err := s.Servers("", 30, time.Now())
	if err != nil || len(list) != 0 {
		t.Fatalf("the store changed: %+v %v", list, err)
	}
}
