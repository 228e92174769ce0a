package keys

import (
	"context"
	"errors"
	"strings"

	"github.com/temporal-envelope/temporal-envelope/codecs/go/primitives"
)

// ProviderSet is several providers seen as one: the first one's primary wraps new data keys;
// whichever holds a payload's key id unwraps it (e.g. a local keyring and a KMS key during a
// migration, or keys of several KMS accounts).
type ProviderSet struct {
	providers []KeyProvider
}

// NewProviderSet returns a set of at least one provider.
func NewProviderSet(providers ...KeyProvider) (*ProviderSet, error) {
	if len(providers) == 0 {
		return nil, primitives.Errorf(primitives.CodeInvalidConfig, "codec %q expected at least one key provider", "keyProviders")
	}
	for i, p := range providers {
		if p == nil {
			return nil, primitives.Errorf(primitives.CodeInvalidConfig, "codec \"keyProviders[%d]\" is nil", i)
		}
	}
	return &ProviderSet{providers: append([]KeyProvider(nil), providers...)}, nil
}

func (s *ProviderSet) Name() string {
	names := make([]string, len(s.providers))
	for i, p := range s.providers {
		names[i] = p.Name()
	}
	return strings.Join(names, "+")
}

func (s *ProviderSet) PrimaryKeyID() string { return s.providers[0].PrimaryKeyID() }

func (s *ProviderSet) Handles(keyID string) bool { return s.holder(keyID) != nil }

func (s *ProviderSet) holder(keyID string) KeyProvider {
	for _, p := range s.providers {
		if p.Handles(keyID) {
			return p
		}
	}
	return nil
}

func (s *ProviderSet) GenerateDataKey(ctx context.Context, scope primitives.Scope) (GeneratedDataKey, error) {
	return s.providers[0].GenerateDataKey(ctx, scope)
}

func (s *ProviderSet) DecryptDataKey(ctx context.Context, keyID string, wrapped []byte, scope primitives.Scope) ([]byte, error) {
	p := s.holder(keyID)
	if p == nil {
		return nil, primitives.Errorf(primitives.CodeUnknownKey, "no configured key provider holds key %q", keyID)
	}
	return p.DecryptDataKey(ctx, keyID, wrapped, scope)
}

func (s *ProviderSet) ListKeys(ctx context.Context) ([]KekInfo, error) {
	var out []KekInfo
	for _, p := range s.providers {
		ks, err := p.ListKeys(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ks...)
	}
	return out, nil
}

func (s *ProviderSet) CheckReady(ctx context.Context) error {
	for _, p := range s.providers {
		if err := p.CheckReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *ProviderSet) Close() error {
	var errs []error
	for _, p := range s.providers {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
