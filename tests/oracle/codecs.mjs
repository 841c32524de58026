// chain-sdk's protobuf codecs by type URL, and base64 helpers, shared by the oracles.
const modules = await Promise.all(
  ["akash.v1", "akash.v1beta4", "akash.v1beta5", "cosmos.v1beta1"].map(
    (name) => import(`@akashnetwork/chain-sdk/private-types/${name}`),
  ),
);
export const registry = {};
for (const mod of modules) {
  for (const value of Object.values(mod)) {
    if (value && typeof value === "object" && typeof value.$type === "string" && value.encode) {
      registry[value.$type] ??= value;
    }
  }
}

export function codec(type) {
  const c = registry[type];
  if (!c) throw new Error(`chain-sdk has no codec for ${type}`);
  return c;
}

export const toB64 = (bytes) => Buffer.from(bytes).toString("base64");
export const fromB64 = (b64) => new Uint8Array(Buffer.from(b64, "base64"));
