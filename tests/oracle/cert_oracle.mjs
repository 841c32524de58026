// Client certificates for provider mTLS, made the way Akash clients make them: chain-sdk's
// CertificateManager (the one Akash Console uses), and its parsePem to read one back.
// stdin: {"items": [op, ...]}; stdout: {"results": [...]}.
// ops:
//   {"op": "generate", "address", "valid_from"?: ISO date, "valid_to"?: ISO date}
//        -> {"cert", "publicKey", "privateKey"} (PEM strings, as MsgCreateCertificate and the client use them)
//   {"op": "parse", "cert"} -> {"hSerial", "sSubject", "sIssuer", "issuedOn", "expiresOn"}
import { CertificateManager } from "@akashnetwork/chain-sdk";
import { answerEach } from "./batch.mjs";

const manager = new CertificateManager();

async function run(item) {
  switch (item.op) {
    case "generate": {
      const options = {};
      if (item.valid_from) options.validFrom = new Date(item.valid_from);
      if (item.valid_to) options.validTo = new Date(item.valid_to);
      return await manager.generatePEM(item.address, options);
    }
    case "parse": {
      const info = await manager.parsePem(item.cert);
      return { ...info, issuedOn: info.issuedOn.toISOString(), expiresOn: info.expiresOn.toISOString() };
    }
    default:
      throw new Error(`unknown op ${item.op}`);
  }
}

await answerEach(run);
