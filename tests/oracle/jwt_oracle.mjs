// Provider JWTs (ES256KADR36) with chain-sdk's JwtTokenManager / JwtValidator and @cosmjs.
// stdin: {"items": [op, ...]}; stdout: {"results": [...]}.
// ops:
//   {"op": "check", "token", "pubkey": b64}
//        -> {"header", "payload", "validator": JwtValidator.validateToken(token),
//            "payload_check": JwtTokenManager.validatePayload(decoded),
//            "signature_valid": ADR-036 amino sign doc verified with Secp256k1}
//   {"op": "generate", "mnemonic", "iat", "nbf", "exp"} -> {"token"} made by chain-sdk itself
import { JwtTokenManager, JwtValidator } from "@akashnetwork/chain-sdk";
import amino from "@cosmjs/amino";
import crypto from "@cosmjs/crypto";
import { answerEach } from "./batch.mjs";

const { Secp256k1HdWallet, makeSignDoc, serializeSignDoc } = amino;
const { Secp256k1, Secp256k1Signature, sha256 } = crypto;

const fromB64url = (s) => new Uint8Array(Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64"));

async function run(item) {
  switch (item.op) {
    case "check": {
      const [h, p, s] = item.token.split(".");
      const header = JSON.parse(Buffer.from(fromB64url(h)).toString("utf8"));
      const payload = JSON.parse(Buffer.from(fromB64url(p)).toString("utf8"));
      const manager = new JwtTokenManager({ algorithm: "ES256KADR36", signArbitrary: async () => ({}) });
      const msg = {
        type: "sign/MsgSignData",
        value: { signer: payload.iss, data: Buffer.from(`${h}.${p}`, "utf8").toString("base64") },
      };
      const doc = makeSignDoc([msg], { gas: "0", amount: [] }, "", "", 0, 0);
      const digest = sha256(serializeSignDoc(doc));
      const signature = Secp256k1Signature.fromFixedLength(fromB64url(s));
      return {
        header,
        payload,
        decoded: manager.decodeToken(item.token),
        validator: new JwtValidator().validateToken(item.token),
        payload_check: manager.validatePayload(payload),
        signature_valid: await Secp256k1.verifySignature(signature, digest, Buffer.from(item.pubkey, "base64")),
      };
    }
    case "generate": {
      const wallet = await Secp256k1HdWallet.fromMnemonic(item.mnemonic, { prefix: "akash" });
      const [account] = await wallet.getAccounts();
      const token = await new JwtTokenManager(wallet).generateToken({
        version: "v1",
        iss: account.address,
        iat: item.iat,
        nbf: item.nbf,
        exp: item.exp,
      });
      return { token, address: account.address };
    }
    default:
      throw new Error(`unknown op ${item.op}`);
  }
}

await answerEach(run);
