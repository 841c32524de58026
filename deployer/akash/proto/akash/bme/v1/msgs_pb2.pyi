from cosmpy.protos.cosmos.base.v1beta1 import coin_pb2 as _coin_pb2
from deployer.akash.proto.akash.bme.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MsgMintACT(_message.Message):
    __slots__ = ("owner", "to", "coins_to_burn")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    COINS_TO_BURN_FIELD_NUMBER: _ClassVar[int]
    owner: str
    to: str
    coins_to_burn: _coin_pb2.Coin
    def __init__(self, owner: _Optional[str] = ..., to: _Optional[str] = ..., coins_to_burn: _Optional[_Union[_coin_pb2.Coin, _Mapping]] = ...) -> None: ...

class MsgMintACTResponse(_message.Message):
    __slots__ = ("id", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: _types_pb2.LedgerRecordID
    status: _types_pb2.LedgerRecordStatus
    def __init__(self, id: _Optional[_Union[_types_pb2.LedgerRecordID, _Mapping]] = ..., status: _Optional[_Union[_types_pb2.LedgerRecordStatus, str]] = ...) -> None: ...
