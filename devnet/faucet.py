"""`slipway devnet fund`: the faucet account sends uakt, in a transaction, like a testnet faucet."""

from __future__ import annotations

from cosmpy.protos.cosmos.bank.v1beta1.tx_pb2 import MsgSend
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin

from deployer.akash.chain import CosmpyChain, Signer, TxRefused
from devnet import config
from devnet.keys import devnet_wallet
from slipway.settings import Settings


class FaucetError(RuntimeError):
    pass


def send(settings: Settings, address: str, uakt: int, *, rest_url: str | None = None) -> str:
    """Broadcast the transfer and wait for its block; returns the tx hash."""
    url = rest_url or f"rest+http://127.0.0.1:{settings.devnet_port_n}"
    chain = CosmpyChain(settings.akash_chain_id, url)
    faucet = devnet_wallet(config.FAUCET_INDEX, "faucet")
    msg = MsgSend(from_address=faucet.address, to_address=address, amount=[Coin(denom=config.GAS_DENOM, amount=str(uakt))])
    try:
        result = Signer(chain, gas_price=config.MIN_GAS_PRICE).submit(faucet, [msg])
        included = chain.wait_for_tx(result.txhash, timeout_s=30)
    except TxRefused as exc:
        raise FaucetError(f"the devnet refused the transfer: {exc.log}") from None
    except Exception as exc:  # noqa: BLE001 - connection refused, timeouts: the devnet is not answering
        raise FaucetError(f"the devnet does not answer on {url} (is `slipway devnet` running?): {exc}") from None
    if included.code != 0:
        raise FaucetError(f"the transfer failed in block {included.height}: {included.log}")
    return result.txhash
