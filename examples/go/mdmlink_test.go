package mdmlink

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var fixtures = filepath.Join("..", "..", "tests", "fixtures", "apple-token-1")

func TestABIVersionMatchesHeader(t *testing.T) {
	if ABIVersion() != HeaderABIVersion {
		t.Fatalf("library ABI %d, header ABI %d", ABIVersion(), HeaderABIVersion)
	}
}

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
	generated, err := GenerateKeypair(2048, "Go Test", time.Now())
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
	// An empty slice is passed as NULL with length 0: the empty input, which
	// holds no key (one rule for every byte input).
	if _, err := KeypairFromPEM(nil, ""); !errors.As(err, &e) || e.Status != StatusKeyMalformed {
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

// The OAuth header from the C API against Go's own RFC 5849 HMAC-SHA1 over
// the same parameters (crypto/hmac, net/url): an independent signer.
func TestSessionAuthorizationHeader(t *testing.T) {
	token, err := NewToken("CK_go", "CS_go+/=", "AT_go", "AS_go&%", time.Now().AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	const endpoint = "https://mdmenrollment.apple.com/session"
	now := time.Unix(1764000000, 0)
	header, err := token.AuthorizationHeader(endpoint, now, "0a1b2c3d")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(header, `OAuth realm="ADM", `) {
		t.Fatalf("header %q", header)
	}
	got := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(header, "OAuth "), ", ") {
		k, v, _ := strings.Cut(part, "=")
		got[k], _ = url.PathUnescape(strings.Trim(v, `"`))
	}
	enc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var params []string
	for k, v := range got {
		if k != "realm" && k != "oauth_signature" {
			params = append(params, enc(k)+"="+enc(v))
		}
	}
	sort.Strings(params)
	base := "GET&" + enc(endpoint) + "&" + enc(strings.Join(params, "&"))
	mac := hmac.New(sha1.New, []byte(enc("CS_go+/=")+"&"+enc("AS_go&%")))
	mac.Write([]byte(base))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got["oauth_signature"] != want || got["oauth_timestamp"] != "1764000000" || got["oauth_token"] != "AT_go" {
		t.Errorf("signature %q, Go computes %q (header %q)", got["oauth_signature"], want, header)
	}
	if len(params) != 6 {
		t.Errorf("signed parameters %v", params)
	}
}

func TestParseSessionResponse(t *testing.T) {
	const base = "https://mdmenrollment.apple.com"
	session, err := ParseSessionResponse(200, []byte(`{"auth_session_token": "87a235815b8d6661ac73329f75815b8a"}`), base)
	if err != nil || session != "87a235815b8d6661ac73329f75815b8a" {
		t.Fatalf("session %q, %v", session, err)
	}
	var e *Error
	if _, err := ParseSessionResponse(403, []byte("T_C_NOT_SIGNED"), base); !errors.As(err, &e) || e.Status != StatusSessionTermsNotAccepted {
		t.Errorf("403 T_C_NOT_SIGNED gave %v", err)
	}
	if _, err := ParseSessionResponse(401, []byte("oauth_problem=signature_invalid"), base); !errors.As(err, &e) || e.Status != StatusSessionUnauthorized {
		t.Errorf("401 gave %v", err)
	}
	if _, err := ParseSessionResponse(200, nil, base); !errors.As(err, &e) || e.Status != StatusSessionMalformed {
		t.Errorf("empty 200 gave %v", err)
	}
}

// startSimulator runs the mdmlink-simulator binary named by MDMLINK_SIMULATOR
// (scripts/ci/20-capi.sh sets it) and returns its URL and its files.
func startSimulator(t *testing.T) (string, string) {
	t.Helper()
	return startSimulatorWith(t, "--devices", "2500", "--seed", "5")
}

// startSimulatorWith is startSimulator with the simulator's options.
func startSimulatorWith(t *testing.T, options ...string) (string, string) {
	t.Helper()
	bin := os.Getenv("MDMLINK_SIMULATOR")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MDMLINK_SIMULATOR is not set (the path of target/debug/mdmlink-simulator)")
		}
		t.Skip("set MDMLINK_SIMULATOR to the mdmlink-simulator binary to run this test")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, append([]string{dir}, options...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the simulator's URL: %v", err)
	}
	return strings.TrimSpace(line), dir
}

func TestDepSyncAndAssign(t *testing.T) {
	base, dir := startSimulator(t)
	keyPEM, err := os.ReadFile(filepath.Join(dir, "simulated-server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tokenFile, err := os.ReadFile(filepath.Join(dir, "simulated-server_smime.p7m"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := KeypairFromPEM(keyPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	token, err := OpenToken(key, tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer token.Close()
	client, err := NewDepClient(token, base, "")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	var cursor []byte
	serials := map[string]bool{}
	for steps := 0; ; steps++ {
		if steps > 10 {
			t.Fatal("sync did not finish")
		}
		page, next, err := client.SyncStep(cursor, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Done    bool `json:"done"`
			Devices []struct {
				Serial string `json:"serial_number"`
			} `json:"devices"`
		}
		if err := json.Unmarshal(page, &p); err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Devices {
			serials[d.Serial] = true
		}
		cursor = next
		if p.Done {
			break
		}
	}
	if len(serials) != 2500 {
		t.Fatalf("synced %d devices, want 2500", len(serials))
	}

	defined, err := client.DefineProfile([]byte(`{"profile_name":"Go Lab","url":"https://mdm.example.com/enroll"}`))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UUID string `json:"profile_uuid"`
	}
	if err := json.Unmarshal(defined, &d); err != nil || d.UUID == "" {
		t.Fatalf("define: %s %v", defined, err)
	}
	list := make([]string, 0, len(serials))
	for s := range serials {
		list = append(list, s)
	}
	sort.Strings(list)
	assigned, err := client.AssignProfile(d.UUID, append(list[:1200:1200], "NOTMINE00001"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Devices  map[string]string `json:"devices"`
		Requests int               `json:"requests"`
	}
	if err := json.Unmarshal(assigned, &a); err != nil {
		t.Fatal(err)
	}
	if a.Requests != 2 || len(a.Devices) != 1201 || a.Devices[list[0]] != "SUCCESS" || a.Devices["NOTMINE00001"] != "NOT_ACCESSIBLE" {
		t.Fatalf("assign: requests %d, %d devices, %q", a.Requests, len(a.Devices), a.Devices["NOTMINE00001"])
	}
	_, err = client.AssignProfile("0000-NONE", list[:1])
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusDepProfileNotFound {
		t.Fatalf("want DEP_PROFILE_NOT_FOUND, got %v", err)
	}
}
