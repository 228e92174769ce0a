"""Failure messages sealed (encode_common_attributes), our own typed errors kept readable
(codecs/failure-converter.cjs), and the DataConverter helper."""

from __future__ import annotations

import temporalio.api.failure.v1
from temporalio.converter import DataConverter, PayloadConverter
from temporalio.exceptions import ApplicationError

from temporal_envelope import EnvelopeCodec, LocalKeyring, envelope_data_converter
from temporal_envelope.codec import EnvelopeFailureConverter
from temporal_envelope.keys import new_keyring_document
from temporal_envelope.primitives import KmsUnavailableError


def to_failure(err: BaseException) -> temporalio.api.failure.v1.Failure:
    failure = temporalio.api.failure.v1.Failure()
    EnvelopeFailureConverter().to_failure(err, PayloadConverter.default, failure)
    return failure


def test_ordinary_failures_move_message_and_stack_into_encoded_attributes() -> None:
    try:
        raise ApplicationError("mailbox ada@example.com rejected the grant", type="NotificationFailed")
    except ApplicationError as err:
        failure = to_failure(err)
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert b"ada@example.com" in failure.encoded_attributes.data  # to be sealed by the codec next
    assert failure.application_failure_info.type == "NotificationFailed"


def test_our_errors_stay_readable_so_reporting_them_needs_no_key() -> None:
    failure = to_failure(KmsUnavailableError("KMS GenerateDataKey with alias/te failed and may succeed later: ThrottlingException"))
    assert failure.message.startswith("KMS_UNAVAILABLE: KMS GenerateDataKey with alias/te")
    assert not failure.HasField("encoded_attributes")
    assert failure.application_failure_info.type == "KmsUnavailableError"


def test_a_wrapper_is_sealed_while_our_error_as_its_cause_stays_readable() -> None:
    try:
        try:
            raise KmsUnavailableError("KMS Decrypt with alias/te timed out after 9 s")
        except KmsUnavailableError as inner:
            raise RuntimeError("decoding arguments for grant of ada@example.com") from inner
    except RuntimeError as err:
        failure = to_failure(err)
    assert failure.message == "Encoded failure"
    assert failure.cause.message.startswith("KMS_UNAVAILABLE")
    assert not failure.cause.HasField("encoded_attributes")


def test_the_data_converter_helper() -> None:
    codec = EnvelopeCodec(LocalKeyring.from_document(new_keyring_document()))
    converter = envelope_data_converter(codec)
    assert converter.payload_codec is codec
    assert isinstance(converter.failure_converter, EnvelopeFailureConverter)
    assert converter.payload_converter_class is DataConverter.default.payload_converter_class
