"""Failure messages sealed, without letting a KMS outage stop a worker
(codecs/failure-converter.cjs in TypeScript).

Failure messages and stack traces are plaintext in history unless they move into
``encoded_attributes``, which then passes the codec: so this converter seals them
(``encode_common_attributes=True``). One exception: a failure caused by the codec itself (KMS down,
unknown key, plaintext refused, ...). Reporting it would need the codec again, and if that needs
KMS too the report fails as well. Our errors' messages are written to carry no plaintext and no
key bytes (only operations, key ids and codes), so they stay readable and need no key: the
workflow task fails, Temporal retries it, the worker stays up.
"""

from __future__ import annotations

import dataclasses

import temporalio.api.failure.v1
from temporalio.converter import DataConverter, DefaultFailureConverter, PayloadConverter

from ..primitives.errors import is_envelope_error
from .envelope_codec import EnvelopeCodec


class EnvelopeFailureConverter(DefaultFailureConverter):
    """Seals failure messages and stack traces, except for our own typed errors."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)
        self._plain = DefaultFailureConverter(encode_common_attributes=False)

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: temporalio.api.failure.v1.Failure,
    ) -> None:
        # Causes come back through this method (the default converter recurses via self), so an
        # error of ours wrapped by the SDK stays readable while the wrapper's own message is sealed.
        if is_envelope_error(exception):
            self._plain.to_failure(exception, payload_converter, failure)
        else:
            super().to_failure(exception, payload_converter, failure)


def envelope_data_converter(codec: EnvelopeCodec, base: DataConverter | None = None) -> DataConverter:
    """A DataConverter with ``codec`` and the sealing failure converter, for Client.connect(data_converter=…)
    (workers take the client's). ``base`` keeps a custom payload converter."""
    return dataclasses.replace(
        base or DataConverter.default,
        payload_codec=codec,
        failure_converter_class=EnvelopeFailureConverter,
    )
