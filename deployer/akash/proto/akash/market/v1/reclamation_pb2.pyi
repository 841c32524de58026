from google.protobuf import duration_pb2 as _duration_pb2
from deployer.akash.proto.akash.market.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Reclamation(_message.Message):
    __slots__ = ("window", "started_at", "deadline", "reason")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    window: _duration_pb2.Duration
    started_at: int
    deadline: int
    reason: _types_pb2.LeaseClosedReason
    def __init__(self, window: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., started_at: _Optional[int] = ..., deadline: _Optional[int] = ..., reason: _Optional[_Union[_types_pb2.LeaseClosedReason, str]] = ...) -> None: ...
