from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeploymentID(_message.Message):
    __slots__ = ("owner", "dseq")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DSEQ_FIELD_NUMBER: _ClassVar[int]
    owner: str
    dseq: int
    def __init__(self, owner: _Optional[str] = ..., dseq: _Optional[int] = ...) -> None: ...

class DeploymentReclamation(_message.Message):
    __slots__ = ("min_window",)
    MIN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    min_window: _duration_pb2.Duration
    def __init__(self, min_window: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...
