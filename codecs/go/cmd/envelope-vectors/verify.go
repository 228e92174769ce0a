package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/codec"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/keys"
	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

type summary struct {
	Generator string   `json:"generator"`
	Verifier  string   `json:"verifier"`
	Opened    int      `json:"opened"`
	Rejected  int      `json:"rejected"`
	Failures  []string `json:"failures"`
}

func (s summary) JSON() string {
	if s.Failures == nil {
		s.Failures = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// contextOf is the serialization context a vector is opened in: none without openIn, a
// namespace-only context for a null workflow id, else a workflow context.
func contextOf(o *openIn) converter.SerializationContext {
	switch {
	case o == nil:
		return nil
	case o.WorkflowID == nil:
		return converter.ActivitySerializationContext{Namespace: o.Namespace}
	default:
		return converter.WorkflowSerializationContext{Namespace: o.Namespace, WorkflowID: *o.WorkflowID}
	}
}

func verify(a args) (summary, error) {
	if a.file == "" {
		return summary{}, errors.New("verify needs FILE")
	}
	raw, err := os.ReadFile(a.file)
	if err != nil {
		return summary{}, err
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return summary{}, fmt.Errorf("%s: %w", a.file, err)
	}
	if f.Format != crossFormat {
		return summary{}, fmt.Errorf("%s: format %q is not %s", a.file, f.Format, crossFormat)
	}
	doc, err := keys.ParseKeyring(f.Keyring, a.file)
	if err != nil {
		return summary{}, err
	}
	local, err := keys.LocalKeyringFromDocument(doc, nil)
	if err != nil {
		return summary{}, err
	}
	providers := []keys.KeyProvider{local}
	if f.KMS != nil {
		if a.kmsEndpoint == "" {
			return summary{}, fmt.Errorf("%s has KMS vectors: pass --kms-endpoint", a.file)
		}
		region := a.region
		if region == "" {
			region = f.KMS.Region
		}
		ring, err := kmsRing(f.KMS.KeyID, a.kmsEndpoint, region)
		if err != nil {
			return summary{}, err
		}
		providers = append(providers, ring)
	}
	// One codec per set of scope options a vector names, all on the same providers.
	codecs := map[[2]string]*codec.Codec{}
	codecFor := func(o *decodeOptions) (*codec.Codec, error) {
		opts := codec.Options{KeyProviders: providers}
		key := [2]string{"", ""}
		if o != nil && o.AcceptNamespaceScoped != nil {
			opts.AcceptNamespaceScoped = *o.AcceptNamespaceScoped
			key[0] = fmt.Sprint(*o.AcceptNamespaceScoped)
		}
		if o != nil && o.ScheduleRuns != nil {
			opts.ScheduleRuns = o.ScheduleRuns
			key[1] = fmt.Sprint(*o.ScheduleRuns)
		}
		if c, ok := codecs[key]; ok {
			return c, nil
		}
		c, err := codec.New(opts)
		if err != nil {
			return nil, err
		}
		codecs[key] = c
		return c, nil
	}
	decode := func(p payloadJSON, o *openIn, options *decodeOptions) (*commonpb.Payload, error) {
		in, err := fromJSON(p)
		if err != nil {
			return nil, primitives.Wrapf(primitives.CodeMalformedPayload, err, "not a proto3 JSON Payload")
		}
		cdc, err := codecFor(options)
		if err != nil {
			return nil, err
		}
		var pc converter.PayloadCodec = cdc
		if sc := contextOf(o); sc != nil {
			pc = cdc.WithSerializationContext(sc)
		}
		out, err := pc.Decode([]*commonpb.Payload{in})
		if err != nil {
			return nil, err
		}
		return out[0], nil
	}
	s := summary{Generator: f.Generator, Verifier: "go"}
	for _, v := range f.Valid {
		out, err := decode(v.Sealed, v.OpenIn, v.Options)
		if err != nil {
			s.Failures = append(s.Failures, fmt.Sprintf("%s: %s", v.Name, describe(err)))
			continue
		}
		want, err := fromJSON(v.Input)
		if err != nil || !proto.Equal(out, want) {
			s.Failures = append(s.Failures, v.Name+": opened to a different payload")
			continue
		}
		s.Opened++
	}
	for _, v := range f.Invalid {
		_, err := decode(v.Sealed, v.OpenIn, v.Options)
		switch code := primitives.CodeOf(err); {
		case err == nil:
			s.Failures = append(s.Failures, fmt.Sprintf("%s: opened, expected %s", v.Name, v.Code))
		case string(code) == v.Code:
			s.Rejected++
		default:
			s.Failures = append(s.Failures, fmt.Sprintf("%s: failed with %s, expected %s", v.Name, describe(err), v.Code))
		}
	}
	return s, nil
}

func describe(err error) string {
	if e, ok := primitives.AsError(err); ok {
		return e.Error()
	}
	return "ERROR " + err.Error()
}
