"""Layer 2: KEK providers (local keyring, AWS KMS), the branch-key layer (format v2), the provider set
and the DEK cache. Imports primitives only."""

from .aws_kms import AwsCredentials, AwsKmsKey, AwsKmsKeyring, KmsClient, map_kms_error
from .branch_key_provider import BranchKeyOptions, BranchKeyProvider
from .dek_cache import DataKeyCache, DekCacheLimits, LeasedDataKey
from .from_options import open_key_provider, open_legacy_keyring
from .keyring_file import KEYRING_FORMAT, new_keyring_document, read_keyring, validate_keyring, write_keyring
from .kms_key_config import KMS_KEY_CONFIG_FORMAT, read_kms_key_config
from .legacy_key_file import DEFAULT_LEGACY_KEYS_PATH, LEGACY_KEYS_FORMAT, read_legacy_keys, validate_legacy_keys
from .legacy_keyring import LegacyKeyInfo, LegacyKeyring
from .local_keyring import DEFAULT_KEYRING_PATH, LocalKeyring
from .provider import GeneratedDataKey, KekInfo, KekState, KeyObserver, KeyProvider, NullObserver, wraps_branch_keys
from .provider_set import ProviderSet

__all__ = [
    "DEFAULT_KEYRING_PATH",
    "DEFAULT_LEGACY_KEYS_PATH",
    "KEYRING_FORMAT",
    "KMS_KEY_CONFIG_FORMAT",
    "LEGACY_KEYS_FORMAT",
    "AwsCredentials",
    "AwsKmsKey",
    "AwsKmsKeyring",
    "BranchKeyOptions",
    "BranchKeyProvider",
    "DataKeyCache",
    "DekCacheLimits",
    "GeneratedDataKey",
    "KekInfo",
    "KekState",
    "KeyObserver",
    "KeyProvider",
    "KmsClient",
    "LeasedDataKey",
    "LegacyKeyInfo",
    "LegacyKeyring",
    "LocalKeyring",
    "NullObserver",
    "ProviderSet",
    "map_kms_error",
    "new_keyring_document",
    "open_key_provider",
    "open_legacy_keyring",
    "read_keyring",
    "read_kms_key_config",
    "read_legacy_keys",
    "validate_keyring",
    "wraps_branch_keys",
    "validate_legacy_keys",
    "write_keyring",
]
