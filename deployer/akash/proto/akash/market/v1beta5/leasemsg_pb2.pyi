from deployer.akash.proto.akash.market.v1 import bid_pb2 as _bid_pb2
from deployer.akash.proto.akash.market.v1 import lease_pb2 as _lease_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MsgCreateLease(_message.Message):
    __slots__ = ("bid_id",)
    BID_ID_FIELD_NUMBER: _ClassVar[int]
    bid_id: _bid_pb2.BidID
    def __init__(self, bid_id: _Optional[_Union[_bid_pb2.BidID, _Mapping]] = ...) -> None: ...

class MsgCreateLeaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MsgCloseLease(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: _lease_pb2.LeaseID
    def __init__(self, id: _Optional[_Union[_lease_pb2.LeaseID, _Mapping]] = ...) -> None: ...

class MsgCloseLeaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
