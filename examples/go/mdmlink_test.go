package mdmlink

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var fixtures = filepath.Join("..", "..", "..", "shared", "fixtures", "apple-token-1")

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("reading the Apple fixture: %v", err)
	}
	return b
}

func TestOpenAppleToken(t *testing.T) {
	var want struct {
		ConsumerKey    string `json:"consumer_key"`
		ConsumerSecret string `json:"consumer_secret"`
		AccessToken    string `json:"access_token"`
		AccessSecret   string `json:"access_secret"`
		Expiry         string `json:"access_token_expiry"`
	}
	if err := json.Unmarshal(readFixture(t, "expected.json"), &want); err != nil {
		t.Fatal(err)
	}
	key, err := KeypairFromPEM(readFixture(t, "apple-mdm-client-tests-1.pem"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	token, err := OpenToken(key, readFixture(t, "apple-mdm-client-tests-1-server-token.p7m"))
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	if token.ConsumerKey() != want.ConsumerKey || token.ConsumerSecret() != want.ConsumerSecret ||
		token.AccessToken() != want.AccessToken || token.AccessSecret() != want.AccessSecret {
		t.Errorf("token fields differ from expected.json (consumer key %q)", token.ConsumerKey())
	}
	expiry, err := time.Parse(time.RFC3339, want.Expiry)
	if err != nil {
		t.Fatal(err)
	}
	if !token.Expiry().Equal(expiry) {
		t.Errorf("expiry %v, want %v", token.Expiry(), expiry)
	}
	// Close is idempotent.
	if err := token.Close(); err != nil {
		t.Fatal(err)
	}
	if token.ConsumerKey() != "" {
		t.Error("a closed token still returns its consumer key")
	}
}

func TestErrors(t *testing.T) {
	generated, err := GenerateKeypair(2048, "Go Test")
	if err != nil {
		t.Fatal(err)
	}
	defer generated.Close()
	pem, err := generated.CertificatePEM()
	if err != nil || !strings.HasPrefix(string(pem), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("certificate: %v", err)
	}
	_, err = OpenToken(generated, readFixture(t, "apple-mdm-client-tests-1-server-token.p7m"))
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusTokenWrongRecipient {
		t.Fatalf("wrong key gave %v", err)
	}
	if !strings.Contains(e.Message, "70FEDDC7D5AFA393") || !strings.Contains(err.Error(), "MDMLINK_STATUS_TOKEN_WRONG_RECIPIENT") {
		t.Errorf("message %q", err.Error())
	}
	if _, err := KeypairFromPEM([]byte("garbage"), ""); !errors.As(err, &e) || e.Status != StatusKeyMalformed {
		t.Errorf("garbage key gave %v", err)
	}
	if _, err := KeypairFromPEM(nil, ""); !errors.As(err, &e) || e.Status != StatusNullArgument {
		t.Errorf("empty key gave %v", err)
	}
	if err := CheckServerName("Unassigned"); !errors.As(err, &e) || e.Status != StatusInvalidName {
		t.Errorf("reserved name gave %v", err)
	}
	if err := CheckServerName("Main MDM"); err != nil {
		t.Error(err)
	}
	if Version() == "" || Status(9999).String() != "mdmlink_status(9999)" {
		t.Error("version or status names")
	}
}
