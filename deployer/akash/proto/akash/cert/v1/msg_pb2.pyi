from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class MsgCreateCertificate(_message.Message):
    __slots__ = ("owner", "cert", "pubkey")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CERT_FIELD_NUMBER: _ClassVar[int]
    PUBKEY_FIELD_NUMBER: _ClassVar[int]
    owner: str
    cert: bytes
    pubkey: bytes
    def __init__(self, owner: _Optional[str] = ..., cert: _Optional[bytes] = ..., pubkey: _Optional[bytes] = ...) -> None: ...

class MsgCreateCertificateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
