import { runService } from "@pot/service-kit";
import { readConfig } from "./config.js";
import { startIdentity } from "./index.js";

runService("identity", readConfig, (config, logger) => startIdentity(config, logger));
