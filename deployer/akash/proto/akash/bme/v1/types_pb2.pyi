from cosmpy.protos.cosmos.base.v1beta1 import coin_pb2 as _coin_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MintStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    mint_status_unspecified: _ClassVar[MintStatus]
    mint_status_healthy: _ClassVar[MintStatus]
    mint_status_warning: _ClassVar[MintStatus]
    mint_status_halt_cr: _ClassVar[MintStatus]
    mint_status_halt_oracle: _ClassVar[MintStatus]

class LedgerRecordStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ledger_record_status_invalid: _ClassVar[LedgerRecordStatus]
    ledger_record_status_pending: _ClassVar[LedgerRecordStatus]
    ledger_record_status_executed: _ClassVar[LedgerRecordStatus]
    ledger_record_status_canceled: _ClassVar[LedgerRecordStatus]
mint_status_unspecified: MintStatus
mint_status_healthy: MintStatus
mint_status_warning: MintStatus
mint_status_halt_cr: MintStatus
mint_status_halt_oracle: MintStatus
ledger_record_status_invalid: LedgerRecordStatus
ledger_record_status_pending: LedgerRecordStatus
ledger_record_status_executed: LedgerRecordStatus
ledger_record_status_canceled: LedgerRecordStatus

class LedgerRecordID(_message.Message):
    __slots__ = ("denom", "to_denom", "source", "height", "sequence")
    DENOM_FIELD_NUMBER: _ClassVar[int]
    TO_DENOM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    denom: str
    to_denom: str
    source: str
    height: int
    sequence: int
    def __init__(self, denom: _Optional[str] = ..., to_denom: _Optional[str] = ..., source: _Optional[str] = ..., height: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class LedgerPendingRecord(_message.Message):
    __slots__ = ("owner", "to", "coins_to_burn", "denom_to_mint", "attempts")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    COINS_TO_BURN_FIELD_NUMBER: _ClassVar[int]
    DENOM_TO_MINT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    owner: str
    to: str
    coins_to_burn: _coin_pb2.Coin
    denom_to_mint: str
    attempts: int
    def __init__(self, owner: _Optional[str] = ..., to: _Optional[str] = ..., coins_to_burn: _Optional[_Union[_coin_pb2.Coin, _Mapping]] = ..., denom_to_mint: _Optional[str] = ..., attempts: _Optional[int] = ...) -> None: ...
