// An independent client of the devnet: transactions signed with @cosmjs/proto-signing (messages
// encoded with @akashnetwork/chain-sdk's codecs) and REST answers decoded with chain-sdk.
// stdin: {"items": [op, ...]}; stdout: {"results": [...]}.
// ops:
//   {"op": "sign", "mnemonic", "hd_index", "chain_id", "account_number", "sequence",
//    "messages": [{"@type": "/full.Name", ...json fields}], "fee": {"amount": [{denom, amount}],
//    "gas_limit", "granter"?}, "memo"?, "sign_chain_id"?, "sign_account_number"?}
//        -> {"b64": TxRaw, "address"}; an Any anywhere in a message is written {"@type", ...fields};
//           "/akash.escrow.v1.DepositAuthorization" may carry "spend_limits", which chain-sdk
//           1.0.0-alpha.25 lacks: field 3 is appended to its encoding here.
//   {"op": "raw_any", "b64": TxRaw, "replace_type_url": {"from", "to"}, "append_field"?: n} -> {"b64"}
//        (a TxRaw whose message type URL is rewritten, or whose first message gets a varint field
//        number n its type does not have; the signature is left as it was)
//   {"op": "get", "url", "type": "<full name>"} -> {"json": toJSON(fromJSON(GET url))}
import protoSigning from "@cosmjs/proto-signing";
import amino from "@cosmjs/amino";
import { TxBody, TxRaw } from "cosmjs-types/cosmos/tx/v1beta1/tx";
import { answerEach } from "./batch.mjs";
import { codec, fromB64, toB64 } from "./codecs.mjs";

const { DirectSecp256k1HdWallet, makeCosmoshubPath, makeSignDoc, makeAuthInfoBytes, encodePubkey } = protoSigning;

function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

// Encode {"@type", ...fields}; nested {"@type"} objects become {typeUrl, value} Anys first.
function encodeAny(obj) {
  const { "@type": typeUrl, ...fields } = obj;
  const type = typeUrl.slice(1);
  const c = codec(type);
  const prepared = packNested(fields);
  let bytes = c.encode(c.fromJSON(prepared)).finish();
  if (type === "akash.escrow.v1.DepositAuthorization" && fields.spend_limits) {
    const coin = codec("cosmos.base.v1beta1.Coin");
    const extra = [];
    for (const limit of fields.spend_limits) {
      const enc = coin.encode(coin.fromJSON(limit)).finish();
      extra.push(0x1a, ...varint(enc.length), ...enc);
    }
    bytes = new Uint8Array([...bytes, ...extra]);
  }
  return { typeUrl, value: bytes };
}

function packNested(json) {
  if (Array.isArray(json)) return json.map(packNested);
  if (json && typeof json === "object") {
    if (typeof json["@type"] === "string") {
      const any = encodeAny(json);
      return { type_url: any.typeUrl, typeUrl: any.typeUrl, value: toB64(any.value) };
    }
    const out = {};
    for (const [k, v] of Object.entries(json)) out[k] = packNested(v);
    return out;
  }
  return json;
}

async function sign(item) {
  const wallet = await DirectSecp256k1HdWallet.fromMnemonic(item.mnemonic, {
    prefix: "akash",
    hdPaths: [makeCosmoshubPath(item.hd_index)],
  });
  const [account] = await wallet.getAccounts();
  const messages = item.messages.map(encodeAny);
  const bodyBytes = TxBody.encode(TxBody.fromPartial({ messages, memo: item.memo ?? "" })).finish();
  const pubkey = encodePubkey(amino.encodeSecp256k1Pubkey(account.pubkey));
  const authInfoBytes = makeAuthInfoBytes(
    [{ pubkey, sequence: BigInt(item.sequence) }],
    item.fee.amount,
    Number(item.fee.gas_limit),
    item.fee.granter || undefined,
    undefined,
  );
  const doc = makeSignDoc(
    bodyBytes,
    authInfoBytes,
    item.sign_chain_id ?? item.chain_id,
    BigInt(item.sign_account_number ?? item.account_number),
  );
  const { signature } = await wallet.signDirect(account.address, doc);
  const raw = TxRaw.fromPartial({ bodyBytes, authInfoBytes, signatures: [fromB64(signature.signature)] });
  return { b64: toB64(TxRaw.encode(raw).finish()), address: account.address };
}

async function run(item) {
  switch (item.op) {
    case "sign":
      return sign(item);
    case "raw_any": {
      const raw = TxRaw.decode(fromB64(item.b64));
      const body = TxBody.decode(raw.bodyBytes);
      if (item.replace_type_url) {
        body.messages = body.messages.map((m) =>
          m.typeUrl === item.replace_type_url.from ? { ...m, typeUrl: item.replace_type_url.to } : m,
        );
      }
      if (item.append_field) {
        const first = body.messages[0];
        body.messages[0] = { ...first, value: new Uint8Array([...first.value, ...varint(item.append_field << 3), 1]) };
      }
      raw.bodyBytes = TxBody.encode(body).finish();
      return { b64: toB64(TxRaw.encode(raw).finish()) };
    }
    case "get": {
      const response = await fetch(item.url);
      const json = await response.json();
      const c = codec(item.type);
      return { status: response.status, json: c.toJSON(c.fromJSON(json)) };
    }
    default:
      throw new Error(`unknown op ${item.op}`);
  }
}

await answerEach(run);
