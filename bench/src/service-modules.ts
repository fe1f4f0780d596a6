// What the bench uses of the services beyond their public index (startX): their read models (as
// `@pot/ops` replays them) and wire codecs, imported from the compiled files because the services'
// package exports list only ".". Every such path is in this one file.
export { readModels as identityReadModels } from "../../services/identity/dist/read-models/index.js";
export { memberEventToWire } from "../../services/identity/dist/adapters/nats/codec.js";
export type { MemberEvent } from "../../services/identity/dist/domain/index.js";

export { readModels as matchmakerReadModels } from "../../services/matchmaker/dist/read-models/index.js";
export { ledgerEventToWire } from "../../services/matchmaker/dist/adapters/nats/codec.js";
export type { LedgerEvent } from "../../services/matchmaker/dist/domain/index.js";

export { readModels as adjudicatorReadModels } from "../../services/adjudicator/dist/read-models/index.js";
export { gameEventToWire } from "../../services/adjudicator/dist/adapters/nats/codec.js";
export type { GameEvent } from "../../services/adjudicator/dist/domain/index.js";
