import { runService } from "@pot/service-kit";
import { readConfig } from "./config.js";
import { startAdjudicator } from "./index.js";

runService("adjudicator", readConfig, (config, logger) => startAdjudicator(config, logger));
