// `npm run certs [-- <dir>]`: the development CA and certificates of `npm start`, without starting
// anything (e.g. for the compose stack, which mounts .pot/tls). Creates them only when missing or
// expiring; `--force` makes a new CA.
import { createPki, defaultPkiDir, ensurePki } from "./tls.js";

const args = process.argv.slice(2);
const force = args.includes("--force");
const dir = args.find((arg) => !arg.startsWith("--")) ?? defaultPkiDir();
const pki = force ? await createPki(dir) : await ensurePki(dir, (line) => console.log(line));
console.log(
  [
    `CA           ${pki.ca}`,
    `services     ${pki.server.cert} (GRPC_TLS_CERT), ${pki.server.key} (GRPC_TLS_KEY), CA as GRPC_TLS_CA`,
    ...Object.entries(pki.clients).map(([role, pair]) => `${role.padEnd(12)} ${pair.cert}, ${pair.key}`),
    "development only: the CA's key lies beside the certificates",
  ].join("\n"),
);
