package codec_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

const pii = "ann.secret@patient.example"

func allText(f *failurepb.Failure) string {
	b, _ := proto.Marshal(f)
	return string(b)
}

func TestFailureMessagesAreSealedToTheWorkflow(t *testing.T) {
	c := newCodec(t, codec.Options{})
	_, fc := codec.Converters(c)
	bound := converter.WithFailureConverterSerializationContext(fc, wfCtx("wf-fail"))
	err := temporal.NewApplicationErrorWithCause("notify "+pii+" failed", "NotifyError", errors.New("smtp said no to "+pii))
	f := bound.ErrorToFailure(err)
	if f.Message != "Encoded failure" || strings.Contains(allText(f), pii) {
		t.Fatalf("message not sealed: %v", f)
	}
	attrs := f.GetEncodedAttributes()
	if meta(attrs, "encoding") != "binary/encrypted" || meta(attrs, "envelope-workflow-id") != "wf-fail" {
		t.Fatalf("encoded attributes not sealed to the workflow: %v", attrs.GetMetadata())
	}
	if meta(f.GetCause().GetEncodedAttributes(), "envelope-workflow-id") != "wf-fail" {
		t.Fatal("the cause's message is not sealed to the workflow")
	}
	// FailureToError decodes in place (the SDK's DefaultFailureConverter does): give it copies.
	back := bound.FailureToError(proto.Clone(f).(*failurepb.Failure))
	var app *temporal.ApplicationError
	if !errors.As(back, &app) || !strings.Contains(app.Error(), "notify "+pii+" failed") || app.Type() != "NotifyError" {
		t.Fatalf("decoded: %v", back)
	}
	// In another workflow the sealed message does not open (and stays "Encoded failure").
	other := converter.WithFailureConverterSerializationContext(fc, wfCtx("wf-other")).FailureToError(proto.Clone(f).(*failurepb.Failure))
	if strings.Contains(other.Error(), pii) {
		t.Fatal("opened in another workflow")
	}
}

// A KMS outage: the codec's own error, wrapped by the SDK (or by the application), must become a
// readable failure without any KMS call, and without a message that is not ours.
func TestCodecErrorsStayReadableAndWrappersAreWithheld(t *testing.T) {
	c := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{failingProvider{newRing(t)}}})
	_, fc := codec.Converters(c)
	bound := converter.WithFailureConverterSerializationContext(fc, wfCtx("wf"))
	netErr := errors.New("dial tcp 127.0.0.1:4566: connect: connection refused")
	own := primitives.Wrapf(primitives.CodeKmsUnavailable, netErr, "KMS Decrypt with alias/te failed and may succeed later: ECONNREFUSED")
	err := temporal.NewApplicationErrorWithCause("activity for "+pii+" could not decode its input", "DecodeError", fmt.Errorf("unable to decode the activity function input payload with error: %w", own))

	f := bound.ErrorToFailure(err)
	text := allText(f)
	if strings.Contains(text, pii) || f.GetEncodedAttributes() != nil {
		t.Fatalf("leaked or sealed: %s", text)
	}
	if f.Message != own.Error() || f.GetApplicationFailureInfo().GetType() != "DecodeError" {
		t.Fatalf("top level: %q %v", f.Message, f.GetApplicationFailureInfo())
	}
	if f.GetCause().GetMessage() != own.Error() || f.GetCause().GetCause().GetMessage() != own.Error() {
		t.Fatalf("chain: %v", f.GetCause())
	}
	if f.GetCause().GetCause().GetCause().GetMessage() != netErr.Error() {
		t.Fatalf("the KMS cause below ours must stay readable: %v", f.GetCause().GetCause().GetCause())
	}
	// A bare codec error (what a workflow task failure carries).
	if got := bound.ErrorToFailure(codecErr(t, c)); !strings.HasPrefix(got.Message, "KMS_UNAVAILABLE: ") {
		t.Fatalf("bare: %q", got.Message)
	}
}

func codecErr(t *testing.T, c *codec.Codec) error {
	_, err := c.WithSerializationContext(wfCtx("wf")).Encode([]*commonpb.Payload{jsonPayload("1")})
	if err == nil {
		t.Fatal("expected an error")
	}
	return err
}

// When sealing another failure fails (KMS down), the SDK's own converter panics; ours reports the
// failure with its messages withheld instead: never plaintext, never a panic.
func TestUnsealableFailureIsWithheldNotLeaked(t *testing.T) {
	c := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{failingProvider{newRing(t)}}})
	_, fc := codec.Converters(c)
	bound := converter.WithFailureConverterSerializationContext(fc, wfCtx("wf"))
	err := temporal.NewNonRetryableApplicationError("charge for "+pii+" declined", "CardError", errors.New("card of "+pii))
	var f *failurepb.Failure
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panicked: %v", r)
			}
		}()
		f = bound.ErrorToFailure(err)
	}()
	if strings.Contains(allText(f), pii) {
		t.Fatal("plaintext leaked")
	}
	if !strings.HasPrefix(f.Message, codec.WithheldMessage) || !strings.Contains(f.Message, "KMS_UNAVAILABLE") {
		t.Fatalf("message %q", f.Message)
	}
	if !f.GetApplicationFailureInfo().GetNonRetryable() || f.GetApplicationFailureInfo().GetType() != "CardError" {
		t.Fatal("the failure's type and retry flag must survive")
	}
	// The SDK's default converter would have panicked here.
	dfc := temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: codec.NewDataConverter(c), EncodeCommonAttributes: true})
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		dfc.ErrorToFailure(err)
		return false
	}()
	if !panicked {
		t.Fatal("expected the SDK's DefaultFailureConverter to panic when sealing fails (the reason this converter exists)")
	}
}

// An error type that cannot be compared with == (a struct value holding a slice) in the chain.
type listError struct {
	items []string
	cause error
}

func (e listError) Error() string { return strings.Join(e.items, ",") + ": " + e.cause.Error() }
func (e listError) Unwrap() error { return e.cause }

func TestUncomparableErrorsInTheChain(t *testing.T) {
	c := newCodec(t, codec.Options{KeyProviders: []keys.KeyProvider{failingProvider{newRing(t)}}})
	_, fc := codec.Converters(c)
	own := primitives.Errorf(primitives.CodeUnknownKey, "no configured key provider holds key \"k\"")
	f := fc.ErrorToFailure(listError{items: []string{pii}, cause: own})
	if strings.Contains(allText(f), pii) || f.GetMessage() != own.Error() || f.GetCause().GetMessage() != own.Error() {
		t.Fatalf("%v", f)
	}
	g := fc.ErrorToFailure(listError{items: []string{pii}, cause: errors.New("plain")})
	if strings.Contains(allText(g), pii) {
		t.Fatalf("%v", g)
	}
}
