import { Simulation, POLICIES, DEFAULT_SIMULATION, summary, ATTACKER_STRATEGIES } from "@pot/simulator";
const [honest, groups, days, pol] = process.argv.slice(2).map((x,i)=> i<3?Number(x):x);
const p = POLICIES[pol ?? "legacy"];
const t = performance.now();
const sim = new Simulation({ ...DEFAULT_SIMULATION, honest, groups: Object.fromEntries(ATTACKER_STRATEGIES.map(s=>[s,groups])), days, policy: p.policy, policyName: p.name, policyFromLog: p.fromLog, maxGroupIdentities: 300 });
const r = sim.run();
console.log(summary(r, performance.now()-t));
