// SDL oracle: what @akashnetwork/chain-sdk makes of an SDL.
//
// stdin:  {"yaml": "..."} or a list of them (one node process for a whole table); an item
//         {"decAmount": "0.5"} instead gives {"decWire": ...}, the amount as chain-sdk's DecCoin
//         encoder puts it on the wire (LegacyDec, 18 implied decimals).
// stdout: one result object (or a list), with, for the SDL class (SDL.fromString(yaml, "beta3", "mainnet")):
//   manifest (manifest()), manifestStr (manifest(true)), sortedJson, hash (hex of manifestVersion()), groups;
// and for the functional API (generateManifest + manifestToSortedJSON + generateManifestVersion):
//   genSortedJson, genHash, genGroupSpecsJson, genErrors (validation messages, or null).
// Uint8Array values (chain-sdk's bytes) are written as {"$bytes": "<utf-8 text>"}; a thrown error as
// {"error": "<message>"} in place of the value that failed.
import { SDL, generateManifest, generateManifestVersion, manifestToSortedJSON } from "@akashnetwork/chain-sdk";
import { DecCoin } from "@akashnetwork/chain-sdk/private-types/cosmos.v1beta1";
import YAML from "js-yaml";

const decoder = new TextDecoder();

function plain(value) {
  return JSON.parse(
    JSON.stringify(value, function (_key, v) {
      if (v instanceof Uint8Array) return { $bytes: decoder.decode(v) };
      // Buffer.toJSON runs before the replacer sees a Buffer
      if (v && v.type === "Buffer" && Array.isArray(v.data)) return { $bytes: decoder.decode(Uint8Array.from(v.data)) };
      return v;
    }) ?? "null",
  );
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");

async function attempt(fn) {
  try {
    return await fn();
  } catch (err) {
    return { error: String(err && err.message ? err.message : err) };
  }
}

function decWire(amount) {
  // DecCoin{amount} alone encodes as tag 0x12, a varint length, then the string.
  const bytes = DecCoin.encode({ denom: "", amount }).finish();
  let pos = 1, len = 0, shift = 0;
  for (;;) {
    const b = bytes[pos++];
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  return decoder.decode(bytes.slice(pos, pos + len));
}

async function one(item) {
  if ("decAmount" in item) return attempt(() => ({ decWire: decWire(item.decAmount) }));
  const out = {};
  let sdl;
  try {
    sdl = SDL.fromString(item.yaml, "beta3", "mainnet");
  } catch (err) {
    out.sdlError = String(err.message);
  }
  if (sdl) {
    out.manifest = await attempt(() => plain(sdl.manifest()));
    out.manifestStr = await attempt(() => plain(sdl.manifest(true)));
    out.sortedJson = await attempt(() => sdl.manifestSortedJSON());
    out.hash = await attempt(async () => hex(await sdl.manifestVersion()));
    out.groups = await attempt(() => plain(sdl.groups()));
  }
  const gen = await attempt(() => generateManifest(YAML.load(item.yaml), "mainnet"));
  if (gen.error) {
    out.genError = gen.error;
  } else if (!gen.ok) {
    out.genErrors = gen.value.map((e) => ({ message: e.message, instancePath: e.instancePath }));
  } else {
    out.genErrors = null;
    out.genSortedJson = await attempt(() => manifestToSortedJSON(gen.value.groups));
    out.genHash = await attempt(async () => hex(await generateManifestVersion(gen.value.groups)));
    out.genGroupSpecsJson = await attempt(() => manifestToSortedJSON(gen.value.groupSpecs));
  }
  return out;
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const payload = JSON.parse(input);
const result = Array.isArray(payload) ? await Promise.all(payload.map(one)) : await one(payload);
process.stdout.write(JSON.stringify(result));
