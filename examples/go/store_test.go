package mdmlink

import (
	"errors"
	"path/filepath"
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
