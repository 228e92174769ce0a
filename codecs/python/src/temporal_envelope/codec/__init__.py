"""Layer 3: the PayloadCodec, the failure converter and header sealing. Imports keys and primitives."""

from .envelope_codec import MAX_INFLATED_BYTES, EnvelopeCodec
from .failure_converter import EnvelopeFailureConverter, envelope_data_converter
from .header_sealing import (
    WARRANT_HEADER,
    HeaderSealingClientInterceptor,
    HeaderSealingWorkerInterceptor,
    current_header,
    current_warrant,
)
from .payload_json import from_proto_json, same_payload, to_proto_json

__all__ = [
    "MAX_INFLATED_BYTES",
    "WARRANT_HEADER",
    "EnvelopeCodec",
    "EnvelopeFailureConverter",
    "HeaderSealingClientInterceptor",
    "HeaderSealingWorkerInterceptor",
    "current_header",
    "current_warrant",
    "envelope_data_converter",
    "from_proto_json",
    "same_payload",
    "to_proto_json",
]
