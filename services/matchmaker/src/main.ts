import { runService } from "@pot/service-kit";
import { readConfig } from "./config.js";
import { startMatchmaker } from "./index.js";

runService("matchmaker", readConfig, (config, logger) => startMatchmaker(config, logger));
