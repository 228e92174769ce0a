package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

type testCase struct {
	v     validVector
	input *commonpb.Payload
}

func jsonPayload(v any) *commonpb.Payload {
	b, _ := json.Marshal(v)
	return &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: b}
}

// kmsRing is a KMS keyring for the tool: moto accepts any credentials; a real account would use
// the default chain (the AWS_* variables are honoured when set).
func kmsRing(keyID, endpoint, region string) (*keys.AwsKmsKeyring, error) {
	var creds aws.CredentialsProvider = credentials.NewStaticCredentialsProvider("testing", "testing", "")
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		creds = credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
	}
	return keys.NewAwsKmsKeyring(keys.AwsKmsOptions{Keys: []keys.AwsKmsKey{{KeyID: keyID}}, Region: region, Endpoint: endpoint, Credentials: creds, MaxAttempts: 1})
}

func newTestKek(version int, state keys.KekState) (keys.KeyringEntry, error) {
	b := make([]byte, 36)
	if _, err := rand.Read(b); err != nil {
		return keys.KeyringEntry{}, err
	}
	return keys.KeyringEntry{
		ID: fmt.Sprintf("local-%d-%s", version, hex.EncodeToString(b[:4])), Version: version, State: state,
		Created: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), Material: base64.StdEncoding.EncodeToString(b[4:]),
	}, nil
}

// generate writes a vector file with a fresh random keyring (TEST ONLY) and, given a KMS endpoint,
// vectors whose data keys (with --hierarchy branch: branch keys, format v2) that KMS key wraps. The cases and the invalid vectors are those of
// test/cross-language/ts-vectors.ts, name for name.
func generate(a args) error {
	if a.out == "" {
		return errors.New("generate needs --out FILE")
	}
	k1, err := newTestKek(1, keys.KekDecryptOnly)
	if err != nil {
		return err
	}
	k2, err := newTestKek(2, keys.KekPrimary)
	if err != nil {
		return err
	}
	doc := keys.KeyringDocument{Format: keys.KeyringFormat, Keys: []keys.KeyringEntry{k1, k2}}
	local, err := keys.LocalKeyringFromDocument(doc, nil)
	if err != nil {
		return err
	}
	providers := map[string]keys.KeyProvider{"local": local}
	region := a.region
	if region == "" {
		region = "us-east-1"
	}
	if a.kmsEndpoint != "" {
		if a.kmsKey == "" {
			return errors.New("--kms-endpoint needs --kms-key")
		}
		ring, err := kmsRing(a.kmsKey, a.kmsEndpoint, region)
		if err != nil {
			return err
		}
		providers["aws-kms"] = ring
	}

	big := jsonPayload(map[string]string{"note": strings.Repeat("repetitive text compresses well ", 64)})
	var cases []testCase
	add := func(v validVector, input *commonpb.Payload) { cases = append(cases, testCase{v, input}) }
	for _, provider := range []string{"local", "aws-kms"} {
		if providers[provider] == nil {
			continue
		}
		p := ""
		if provider == "aws-kms" {
			p = " (KMS)"
		}
		add(validVector{Name: "aes-gcm workflow scope" + p, Provider: provider, Algorithm: "AES-256-GCM", Compression: false, Namespace: "default", WorkflowID: strPtr("grant-42"), OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr("grant-42")}},
			jsonPayload(map[string]string{"token": "dlg_test_only", "email": "ada@example.com"}))
		add(validVector{Name: "aes-gcm namespace scope" + p, Provider: provider, Algorithm: "AES-256-GCM", Compression: false, Namespace: "tenant-a"}, jsonPayload("approve"))
		add(validVector{Name: "xchacha workflow scope" + p, Provider: provider, Algorithm: "XCHACHA20-POLY1305", Compression: false, Namespace: "default", WorkflowID: strPtr("grant-43")}, jsonPayload([]int{1, 2, 3}))
		add(validVector{Name: "xchacha namespace scope" + p, Provider: provider, Algorithm: "XCHACHA20-POLY1305", Compression: false, Namespace: "tenant-b"}, jsonPayload(map[string]int{"n": 1}))
		add(validVector{Name: "aes-gcm deflate" + p, Provider: provider, Algorithm: "AES-256-GCM", Compression: "deflate", Namespace: "default", WorkflowID: strPtr("grant-44")}, big)
		add(validVector{Name: "xchacha deflate" + p, Provider: provider, Algorithm: "XCHACHA20-POLY1305", Compression: "deflate", Namespace: "default", WorkflowID: strPtr("grant-45")}, big)
	}
	add(validVector{Name: "empty data, unicode workflow id", Provider: "local", Algorithm: "AES-256-GCM", Compression: false, Namespace: "default", WorkflowID: strPtr("wf-ünïcødé-✓-😀")},
		&commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/null")}})
	add(validVector{Name: "binary payload with extra metadata", Provider: "local", Algorithm: "XCHACHA20-POLY1305", Compression: false, Namespace: "ns.with.dots", WorkflowID: strPtr("x")},
		&commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/plain"), "custom-key": {0, 255, 1}}, Data: []byte{0, 1, 2, 254, 255}})
	// Ids every codec must carry byte for byte (docs/wire-format.md): a leading BOM, NUL, the 1024-byte limit.
	exact := func(name, workflowID string) {
		add(validVector{Name: name, Provider: "local", Algorithm: "AES-256-GCM", Compression: false, Namespace: "default", WorkflowID: strPtr(workflowID), OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr(workflowID)}}, jsonPayload(name))
	}
	exact("workflow id with a leading BOM", "\ufeffgrant-bom")
	exact("workflow id with NUL", "grant\x00nul")
	exact("workflow id of 1024 UTF-8 bytes", strings.Repeat("x", 1020)+"😀")
	// The schedule-run clause: sealed for the schedule action's id, opened in a run the server started.
	add(validVector{Name: "schedule action opened in its run", Provider: "local", Algorithm: "AES-256-GCM", Compression: false, Namespace: "default", WorkflowID: strPtr("nightly-report"), OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr("nightly-report-2026-11-25T15:14:31Z")}},
		jsonPayload(map[string]string{"run": "scheduled"}))
	add(validVector{Name: "namespace scope opened in a workflow, accepted by option", Provider: "local", Algorithm: "AES-256-GCM", Compression: false, Namespace: "default", OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr("grant-42")}, Options: &decodeOptions{AcceptNamespaceScoped: boolPtr(true)}},
		jsonPayload("from the UI"))

	var valid []validVector
	for _, c := range cases {
		compression, _ := c.v.Compression.(string)
		cdc, err := codec.New(codec.Options{KeyProviders: []keys.KeyProvider{providers[c.v.Provider]}, KeyHierarchy: a.hierarchy, Algorithm: primitives.Algorithm(c.v.Algorithm), Compression: compression, CompressionMinBytes: 256})
		if err != nil {
			return err
		}
		wf := ""
		if c.v.WorkflowID != nil {
			wf = *c.v.WorkflowID
		}
		sealed, err := cdc.EncodeInScope([]*commonpb.Payload{c.input}, primitives.Scope{Namespace: c.v.Namespace, WorkflowID: wf})
		if err != nil {
			return fmt.Errorf("%s: %w", c.v.Name, err)
		}
		c.v.Input, c.v.Sealed = toJSON(c.input), toJSON(sealed[0])
		valid = append(valid, c.v)
	}

	first := valid[0].Sealed
	byName := func(name string) payloadJSON {
		for _, v := range valid {
			if v.Name == name {
				return v.Sealed
			}
		}
		panic("no vector " + name)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	withMeta := func(k string, v *string) payloadJSON {
		m := map[string]string{}
		for key, val := range first.Metadata {
			m[key] = val
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = *v
		}
		return payloadJSON{Metadata: m, Data: first.Data}
	}
	data, _ := base64.StdEncoding.DecodeString(first.Data)
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)-1] ^= 0x01
	enc := base64.StdEncoding.EncodeToString
	flipped20 := func(field string) *string {
		b, _ := base64.StdEncoding.DecodeString(first.Metadata[field])
		b[20] ^= 0x80
		return strPtr(enc(b))
	}
	branch := a.hierarchy == primitives.HierarchyBranch
	// The wrapped key's fields: v1's wrapped DEK, or v2's wrapped branch key and salt.
	var keyCases []invalidVector
	if !branch {
		keyCases = []invalidVector{
			{Name: "wrapped DEK altered", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta("envelope-dek", flipped20("envelope-dek"))},
			{Name: "wrapped DEK missing", Code: "MALFORMED_PAYLOAD", Provider: "local", Sealed: withMeta("envelope-dek", nil)},
		}
	} else {
		branchKey := first.Metadata[primitives.MetaBranchKey]
		keyCases = []invalidVector{
			{Name: "wrapped branch key altered", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta(primitives.MetaBranchKey, flipped20(primitives.MetaBranchKey))},
			{Name: "salt altered", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta(primitives.MetaDEKSalt, flipped20(primitives.MetaDEKSalt))},
			{Name: "wrapped branch key missing", Code: "MALFORMED_PAYLOAD", Provider: "local", Sealed: withMeta(primitives.MetaBranchKey, nil)},
			{Name: "salt missing", Code: "MALFORMED_PAYLOAD", Provider: "local", Sealed: withMeta(primitives.MetaDEKSalt, nil)},
			{Name: "salt of 16 bytes", Code: "MALFORMED_PAYLOAD", Provider: "local", Sealed: withMeta(primitives.MetaDEKSalt, strPtr(enc(make([]byte, 16))))},
			{Name: "version relabelled 2 to 1", Code: "MALFORMED_PAYLOAD", Provider: "local", Sealed: withMeta("envelope-version", strPtr(b64("1")))},
			{Name: "version 2 carrying an envelope-dek", Code: "UNSUPPORTED_FORMAT", Provider: "local", Sealed: withMeta("envelope-dek", &branchKey)},
		}
	}
	invalid := []invalidVector{
		{Name: "last tag bit flipped", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: payloadJSON{Metadata: first.Metadata, Data: enc(flipped)}},
		{Name: "truncated to 10 bytes", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: payloadJSON{Metadata: first.Metadata, Data: enc(data[:10])}},
		{Name: "workflow id swapped in the header", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta("envelope-workflow-id", strPtr(b64("grant-666")))},
		{Name: "workflow id removed from the header", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta("envelope-workflow-id", nil)},
		{Name: "namespace swapped in the header", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta("envelope-namespace", strPtr(b64("other")))},
		{Name: "algorithm relabelled", Code: "TAMPERED_CIPHERTEXT", Provider: "local", Sealed: withMeta("envelope-alg", strPtr(b64("XCHACHA20-POLY1305")))},
		{Name: "unknown key id", Code: "UNKNOWN_KEY", Provider: "local", Sealed: withMeta("encryption-key-id", strPtr(b64("local-9-deadbeef")))},
		{Name: "future format version", Code: "UNSUPPORTED_FORMAT", Provider: "local", Sealed: withMeta("envelope-version", strPtr(b64("9")))},
		{Name: "unknown algorithm", Code: "UNSUPPORTED_FORMAT", Provider: "local", Sealed: withMeta("envelope-alg", strPtr(b64("ROT13")))},
	}
	invalid = append(invalid, keyCases...)
	invalid = append(invalid,
		invalidVector{Name: "opened in another workflow", Code: "SCOPE_MISMATCH", Provider: "local", Sealed: first, OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr("grant-43")}},
		invalidVector{Name: "opened in another namespace", Code: "SCOPE_MISMATCH", Provider: "local", Sealed: first, OpenIn: &openIn{Namespace: "other", WorkflowID: strPtr("grant-42")}},
		invalidVector{Name: "namespace scope opened in a workflow", Code: "SCOPE_MISMATCH", Provider: "local", Sealed: byName("aes-gcm namespace scope"), OpenIn: &openIn{Namespace: "tenant-a", WorkflowID: strPtr("grant-42")}},
		invalidVector{Name: "schedule action opened in a run-shaped id that is no time", Code: "SCOPE_MISMATCH", Provider: "local", Sealed: byName("schedule action opened in its run"), OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr("nightly-report-2026-13-45T99:99:99Z")}},
		invalidVector{Name: "schedule action opened in its run, scheduleRuns off", Code: "SCOPE_MISMATCH", Provider: "local", Sealed: byName("schedule action opened in its run"), OpenIn: &openIn{Namespace: "default", WorkflowID: strPtr("nightly-report-2026-11-25T15:14:31Z")}, Options: &decodeOptions{ScheduleRuns: boolPtr(false)}},
	)
	kmsField, kmsWhat := "envelope-dek", "DEK"
	if branch {
		kmsField, kmsWhat = primitives.MetaBranchKey, "branch key"
	}
	for _, v := range valid {
		if v.Provider != "aws-kms" {
			continue
		}
		kw, _ := base64.StdEncoding.DecodeString(v.Sealed.Metadata[kmsField])
		kw[len(kw)-5] ^= 0x01
		m := map[string]string{}
		for k, val := range v.Sealed.Metadata {
			m[k] = val
		}
		m[kmsField] = enc(kw)
		invalid = append(invalid, invalidVector{Name: "KMS-wrapped " + kmsWhat + " altered", Code: "TAMPERED_CIPHERTEXT", Provider: "aws-kms", Sealed: payloadJSON{Metadata: m, Data: v.Sealed.Data}})
		break
	}

	keyring, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	file := vectorFile{
		Format: crossFormat, Generator: "go", Note: "TEST ONLY: the keys below were generated for this file and protect nothing.",
		Keyring: keyring, Valid: valid, Invalid: invalid,
	}
	if a.kmsEndpoint != "" {
		file.KMS = &kmsInfo{KeyID: a.kmsKey, Region: region}
	}
	if branch {
		file.Hierarchy = string(primitives.HierarchyBranch)
	}
	text, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(a.out, append(text, '\n'), 0o600)
}
