// Wallet derivation and SIGN_MODE_DIRECT verification with @cosmjs.
// stdin: {"items": [op, ...]}; stdout: {"results": [...]}.
// ops:
//   {"op": "derive", "mnemonic", "prefix", "indexes": [n, ...]}
//        -> {"accounts": [{"address", "pubkey": b64}]} (DirectSecp256k1HdWallet, path m/44'/118'/0'/0/n)
//   {"op": "verify_tx", "b64": TxRaw, "chain_id", "account_number", "sequence", "pubkey": b64}
//        -> {"valid": bool (the sign doc as given), "wrong_chain_id", "wrong_account_number",
//            "wrong_sequence": bool (the same signature against a sign doc changed in that one
//            respect), "tx": {type_urls, sequence, gas_limit, fee, granter, pubkey}}
import protoSigning from "@cosmjs/proto-signing";
import crypto from "@cosmjs/crypto";
import { AuthInfo, TxBody, TxRaw } from "cosmjs-types/cosmos/tx/v1beta1/tx";
import { PubKey } from "cosmjs-types/cosmos/crypto/secp256k1/keys";
import { answerEach } from "./batch.mjs";

const { DirectSecp256k1HdWallet, makeCosmoshubPath, makeSignDoc, makeSignBytes } = protoSigning;
const { Secp256k1, Secp256k1Signature, sha256 } = crypto;

const toB64 = (bytes) => Buffer.from(bytes).toString("base64");
const fromB64 = (b64) => new Uint8Array(Buffer.from(b64, "base64"));

async function verify(signature, authInfoBytes, raw, chainId, accountNumber, pubkey) {
  const doc = makeSignDoc(raw.bodyBytes, authInfoBytes, chainId, accountNumber);
  const sig = Secp256k1Signature.fromFixedLength(signature);
  return Secp256k1.verifySignature(sig, sha256(makeSignBytes(doc)), pubkey);
}

async function run(item) {
  switch (item.op) {
    case "derive": {
      const wallet = await DirectSecp256k1HdWallet.fromMnemonic(item.mnemonic, {
        prefix: item.prefix,
        hdPaths: item.indexes.map((i) => makeCosmoshubPath(i)),
      });
      const accounts = await wallet.getAccounts();
      return { accounts: accounts.map((a) => ({ address: a.address, pubkey: toB64(a.pubkey) })) };
    }
    case "verify_tx": {
      const raw = TxRaw.decode(fromB64(item.b64));
      const authInfo = AuthInfo.decode(raw.authInfoBytes);
      const body = TxBody.decode(raw.bodyBytes);
      const pubkey = fromB64(item.pubkey);
      const [signature] = raw.signatures;
      const n = BigInt(item.account_number);
      // The same tx claiming another sequence: the signed auth info changes.
      const otherSeq = AuthInfo.encode({
        ...authInfo,
        signerInfos: authInfo.signerInfos.map((s) => ({ ...s, sequence: BigInt(item.sequence) + 1n })),
      }).finish();
      const signer = authInfo.signerInfos[0];
      return {
        valid: await verify(signature, raw.authInfoBytes, raw, item.chain_id, n, pubkey),
        wrong_chain_id: await verify(signature, raw.authInfoBytes, raw, item.chain_id + "-x", n, pubkey),
        wrong_account_number: await verify(signature, raw.authInfoBytes, raw, item.chain_id, n + 1n, pubkey),
        wrong_sequence: await verify(signature, otherSeq, raw, item.chain_id, n, pubkey),
        tx: {
          type_urls: body.messages.map((m) => m.typeUrl),
          memo: body.memo,
          sequence: signer.sequence.toString(),
          sign_mode: signer.modeInfo?.single?.mode,
          pubkey_type: signer.publicKey?.typeUrl,
          pubkey: toB64(PubKey.decode(signer.publicKey.value).key),
          gas_limit: authInfo.fee.gasLimit.toString(),
          fee: authInfo.fee.amount,
          granter: authInfo.fee.granter,
          payer: authInfo.fee.payer,
        },
      };
    }
    default:
      throw new Error(`unknown op ${item.op}`);
  }
}

await answerEach(run);
