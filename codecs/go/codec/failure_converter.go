package codec

import (
	"errors"
	"fmt"
	"reflect"

	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// NewDataConverter is the SDK's default data converter with the codec in front: what
// client.Options.DataConverter wants.
func NewDataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Converters returns the data converter and failure converter to set on client.Options (workers
// use their client's): payloads sealed by the codec, and failure messages and stack traces sealed
// too (EncodeCommonAttributes), with the codec's own errors kept readable.
func Converters(c *Codec) (converter.DataConverter, converter.FailureConverter) {
	dc := NewDataConverter(c)
	return dc, NewFailureConverter(dc)
}

// FailureConverter seals failure messages and stack traces: the SDK's DefaultFailureConverter
// with EncodeCommonAttributes moves them into encodedAttributes, which then passes the codec.
//
// Two things differ from using temporal.NewDefaultFailureConverter directly:
//
//   - It takes the serialization context (the SDK's default failure converter does not), so a
//     failure's sealed attributes are bound to the workflow they belong to, like every other
//     payload, and open in the TypeScript and Python codecs' workflow contexts too.
//   - A failure caused by the codec itself (KMS down, unknown key: any *primitives.Error in the
//     chain) is not sealed: the SDK reports such a failure with a codec call of its own, which
//     would need the same KMS, and the SDK panics when sealing a failure fails. Our errors'
//     messages carry only codes, operations, key ids and scopes, so they stay readable and need
//     no key: the task fails, Temporal retries it, the worker stays up. The messages of errors
//     wrapping ours (the SDK's, or yours, which might hold anything) are replaced by ours; causes
//     below ours (a KMS or network error) are kept.
//
// When sealing any other failure fails, the failure is reported with every message withheld rather
// than in plaintext and rather than panicking.
type FailureConverter struct {
	dc     converter.DataConverter
	sealed *temporal.DefaultFailureConverter
	plain  *temporal.DefaultFailureConverter
}

var (
	_ converter.FailureConverter                         = (*FailureConverter)(nil)
	_ converter.FailureConverterWithSerializationContext = (*FailureConverter)(nil)
)

// WithheldMessage replaces a message that could not be sealed.
const WithheldMessage = "message withheld by temporal-envelope: it could not be sealed"

// NewFailureConverter returns a failure converter over dc (a data converter with the codec).
func NewFailureConverter(dc converter.DataConverter) *FailureConverter {
	return &FailureConverter{
		dc:     dc,
		sealed: temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true}),
		plain:  temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc}),
	}
}

// WithSerializationContext binds the data converter, and so the codec, to the context.
func (f *FailureConverter) WithSerializationContext(sc converter.SerializationContext) converter.FailureConverter {
	return NewFailureConverter(converter.WithDataConverterSerializationContext(f.dc, sc))
}

// ErrorToFailure converts an error to a Failure, sealed unless it is the codec's own.
func (f *FailureConverter) ErrorToFailure(err error) *failurepb.Failure {
	if err == nil {
		return nil
	}
	if IsEnvelopeError(err) {
		failure, convErr := convert(f.plain, err)
		if convErr != nil {
			return minimalFailure(err, convErr)
		}
		// Keep our error and what lies below it (the KMS or network cause); replace the rest.
		own, _ := primitives.AsError(err)
		first := firstOwnLevel(err)
		withhold(err, failure, own.Error(), func(i int) bool { return first >= 0 && i >= first })
		return failure
	}
	failure, sealErr := convert(f.sealed, err)
	if sealErr == nil {
		return failure
	}
	failure, convErr := convert(f.plain, err)
	if convErr != nil {
		return minimalFailure(err, sealErr)
	}
	withhold(err, failure, WithheldMessage, func(int) bool { return false })
	failure.Message = fmt.Sprintf("%s (%v)", WithheldMessage, reportable(sealErr))
	return failure
}

// FailureToError opens sealed attributes (a failure that does not open keeps "Encoded failure").
func (f *FailureConverter) FailureToError(failure *failurepb.Failure) error {
	return f.sealed.FailureToError(failure)
}

// convert runs a DefaultFailureConverter, turning the panic it raises when a payload cannot be
// encoded into an error.
func convert(dfc *temporal.DefaultFailureConverter, err error) (failure *failurepb.Failure, convErr error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				convErr = e
			} else {
				convErr = fmt.Errorf("%v", r)
			}
		}
	}()
	return dfc.ErrorToFailure(err), nil
}

// withhold walks the error chain and the failure's cause chain side by side (the SDK builds one
// cause per errors.Unwrap step) and replaces the message, and drops the stack trace, of each level
// i that keep rejects.
func withhold(err error, failure *failurepb.Failure, replacement string, keep func(i int) bool) {
	i := 0
	for level, f := err, failure; level != nil && f != nil; level, f = errors.Unwrap(level), f.GetCause() {
		if !keep(i) {
			f.Message = replacement
			f.StackTrace = ""
		}
		i++
	}
}

// firstOwnLevel is the depth of the first of our errors in err's errors.Unwrap chain, or -1.
// (Positions, not comparisons: an error type need not be comparable.)
func firstOwnLevel(err error) int {
	i := 0
	for level := err; level != nil; level = errors.Unwrap(level) {
		if _, ok := level.(*primitives.Error); ok {
			return i
		}
		i++
	}
	return -1
}

// reportable is the part of a sealing error that may be shown: our own error's message, or the
// error's type.
func reportable(err error) string {
	if e, ok := primitives.AsError(err); ok {
		return e.Error()
	}
	return typeName(err)
}

func typeName(err error) string {
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// minimalFailure is the last resort when even the unsealed conversion fails (details that could
// not be encoded): a failure with no message of the caller's at all.
func minimalFailure(err, cause error) *failurepb.Failure {
	msg := WithheldMessage
	if e, ok := primitives.AsError(err); ok {
		msg = e.Error()
	} else {
		msg = fmt.Sprintf("%s (%s)", msg, reportable(cause))
	}
	return &failurepb.Failure{
		Message: msg,
		Source:  "GoSDK",
		FailureInfo: &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{
			Type: typeName(err),
		}},
	}
}
