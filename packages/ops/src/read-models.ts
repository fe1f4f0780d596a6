import { readModels as adjudicator } from "@pot/adjudicator";
import { readModels as identity } from "@pot/identity";
import { readModels as matchmaker } from "@pot/matchmaker";
import type { ReadModels } from "@pot/projections";
import type { ServiceName } from "./types.js";

/** Every service's read models, as the services themselves start them. */
export const READ_MODELS: Record<ServiceName, ReadModels<unknown>> = {
  // Each registry is typed against its own tables; a rebuild only passes the database through.
  identity: identity as ReadModels<unknown>,
  matchmaker: matchmaker as ReadModels<unknown>,
  adjudicator: adjudicator as ReadModels<unknown>,
};
