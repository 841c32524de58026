from deployer.akash.proto.akash.bme.v1 import params_pb2 as _params_pb2
from deployer.akash.proto.akash.bme.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueryParamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueryParamsResponse(_message.Message):
    __slots__ = ("params",)
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    params: _params_pb2.Params
    def __init__(self, params: _Optional[_Union[_params_pb2.Params, _Mapping]] = ...) -> None: ...

class QueryStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueryStatusResponse(_message.Message):
    __slots__ = ("status", "collateral_ratio", "warn_threshold", "halt_threshold", "mints_allowed", "refunds_allowed")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLATERAL_RATIO_FIELD_NUMBER: _ClassVar[int]
    WARN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    HALT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MINTS_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    status: _types_pb2.MintStatus
    collateral_ratio: str
    warn_threshold: str
    halt_threshold: str
    mints_allowed: bool
    refunds_allowed: bool
    def __init__(self, status: _Optional[_Union[_types_pb2.MintStatus, str]] = ..., collateral_ratio: _Optional[str] = ..., warn_threshold: _Optional[str] = ..., halt_threshold: _Optional[str] = ..., mints_allowed: bool = ..., refunds_allowed: bool = ...) -> None: ...
