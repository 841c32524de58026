// Encode and decode protobuf messages with @akashnetwork/chain-sdk's own codecs.
// stdin: {"items": [op, ...]}; stdout: {"results": [result, ...]} in the same order.
// ops:
//   {"op": "decode", "type": "<full name>", "b64": ...}
//        -> {"json": toJSON(decode(bytes)), "b64": encode(decode(bytes))}
//           Any values whose type chain-sdk knows get an extra "unpacked" key.
//   {"op": "encode", "type": "<full name>", "json": {...}} -> {"b64": encode(fromJSON(json))}
//   {"op": "fields", "b64": ..., "decode": {"<field no>": "<full name>"}}
//        -> {"fields": [{"no", "wt", "json"?}]}: a raw wire walk, for fields this
//           chain-sdk version does not define.
//   {"op": "sdl_groups", "yaml": ...}
//        -> {"groups": [{"json": <group as JSON.stringify gives it>, "b64": GroupSpec.encode(fromPartial(group))}]}
// A failing item answers {"error": message}; the batch goes on.
import { SDL } from "@akashnetwork/chain-sdk";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { answerEach } from "./batch.mjs";
import { codec, fromB64, registry, toB64 } from "./codecs.mjs";

function unpackAnys(json) {
  if (Array.isArray(json)) return json.map(unpackAnys);
  if (json && typeof json === "object") {
    const out = {};
    for (const [k, v] of Object.entries(json)) out[k] = unpackAnys(v);
    const url = json.typeUrl ?? json.type_url;
    if (typeof url === "string" && registry[url.slice(1)]) {
      const inner = codec(url.slice(1));
      out.unpacked = unpackAnys(inner.toJSON(inner.decode(fromB64(json.value ?? ""))));
    }
    return out;
  }
  return json;
}

function walk(b64, decode = {}) {
  const reader = new BinaryReader(fromB64(b64));
  const fields = [];
  while (reader.pos < reader.len) {
    const [no, wt] = reader.tag();
    const field = { no, wt };
    if (wt === WireType.LengthDelimited) {
      const bytes = reader.bytes();
      field.b64 = toB64(bytes);
      if (decode[no]) field.json = codec(decode[no]).toJSON(codec(decode[no]).decode(bytes));
    } else {
      reader.skip(wt);
    }
    fields.push(field);
  }
  return fields;
}

function run(item) {
  switch (item.op) {
    case "decode": {
      const c = codec(item.type);
      const msg = c.decode(fromB64(item.b64));
      return { json: unpackAnys(c.toJSON(msg)), b64: toB64(c.encode(msg).finish()) };
    }
    case "encode": {
      const c = codec(item.type);
      return { b64: toB64(c.encode(c.fromJSON(item.json)).finish()) };
    }
    case "fields":
      return { fields: walk(item.b64, item.decode) };
    case "sdl_groups": {
      const groups = SDL.fromString(item.yaml, "beta3", "mainnet").groups();
      const spec = codec("akash.deployment.v1beta4.GroupSpec");
      return {
        groups: groups.map((g) => ({ json: JSON.parse(JSON.stringify(g)), b64: toB64(spec.encode(spec.fromPartial(g)).finish()) })),
      };
    }
    default:
      throw new Error(`unknown op ${item.op}`);
  }
}

await answerEach(run);
