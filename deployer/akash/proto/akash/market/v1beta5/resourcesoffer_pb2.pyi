from cosmpy.protos.cosmos.base.v1beta1 import coin_pb2 as _coin_pb2
from deployer.akash.proto.akash.base.resources.v1beta4 import resources_pb2 as _resources_pb2
from deployer.akash.proto.akash.base.resources.v1beta4 import endpoint_pb2 as _endpoint_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StorageOfferPrice(_message.Message):
    __slots__ = ("name", "price")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    name: str
    price: _coin_pb2.DecCoin
    def __init__(self, name: _Optional[str] = ..., price: _Optional[_Union[_coin_pb2.DecCoin, _Mapping]] = ...) -> None: ...

class EndpointOfferPrice(_message.Message):
    __slots__ = ("kind", "price")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    kind: _endpoint_pb2.Endpoint.Kind
    price: _coin_pb2.DecCoin
    def __init__(self, kind: _Optional[_Union[_endpoint_pb2.Endpoint.Kind, str]] = ..., price: _Optional[_Union[_coin_pb2.DecCoin, _Mapping]] = ...) -> None: ...

class OfferPrices(_message.Message):
    __slots__ = ("cpu", "memory", "storage", "gpu", "endpoints")
    CPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    cpu: _coin_pb2.DecCoin
    memory: _coin_pb2.DecCoin
    storage: _containers.RepeatedCompositeFieldContainer[StorageOfferPrice]
    gpu: _coin_pb2.DecCoin
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointOfferPrice]
    def __init__(self, cpu: _Optional[_Union[_coin_pb2.DecCoin, _Mapping]] = ..., memory: _Optional[_Union[_coin_pb2.DecCoin, _Mapping]] = ..., storage: _Optional[_Iterable[_Union[StorageOfferPrice, _Mapping]]] = ..., gpu: _Optional[_Union[_coin_pb2.DecCoin, _Mapping]] = ..., endpoints: _Optional[_Iterable[_Union[EndpointOfferPrice, _Mapping]]] = ...) -> None: ...

class ResourceOffer(_message.Message):
    __slots__ = ("resources", "count", "prices")
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PRICES_FIELD_NUMBER: _ClassVar[int]
    resources: _resources_pb2.Resources
    count: int
    prices: OfferPrices
    def __init__(self, resources: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., count: _Optional[int] = ..., prices: _Optional[_Union[OfferPrices, _Mapping]] = ...) -> None: ...
