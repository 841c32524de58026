from cosmpy.protos.cosmos.base.v1beta1 import coin_pb2 as _coin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Params(_message.Message):
    __slots__ = ("circuit_breaker_warn_threshold", "circuit_breaker_halt_threshold", "min_epoch_blocks", "epoch_blocks_backoff_percent", "mint_spread_bps", "settle_spread_bps", "max_endblocker_records", "min_mint", "max_pending_attempts")
    CIRCUIT_BREAKER_WARN_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_HALT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_EPOCH_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_BLOCKS_BACKOFF_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MINT_SPREAD_BPS_FIELD_NUMBER: _ClassVar[int]
    SETTLE_SPREAD_BPS_FIELD_NUMBER: _ClassVar[int]
    MAX_ENDBLOCKER_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MIN_MINT_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    circuit_breaker_warn_threshold: int
    circuit_breaker_halt_threshold: int
    min_epoch_blocks: int
    epoch_blocks_backoff_percent: int
    mint_spread_bps: int
    settle_spread_bps: int
    max_endblocker_records: int
    min_mint: _containers.RepeatedCompositeFieldContainer[_coin_pb2.Coin]
    max_pending_attempts: int
    def __init__(self, circuit_breaker_warn_threshold: _Optional[int] = ..., circuit_breaker_halt_threshold: _Optional[int] = ..., min_epoch_blocks: _Optional[int] = ..., epoch_blocks_backoff_percent: _Optional[int] = ..., mint_spread_bps: _Optional[int] = ..., settle_spread_bps: _Optional[int] = ..., max_endblocker_records: _Optional[int] = ..., min_mint: _Optional[_Iterable[_Union[_coin_pb2.Coin, _Mapping]]] = ..., max_pending_attempts: _Optional[int] = ...) -> None: ...
