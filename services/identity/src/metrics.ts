import { metrics } from "@opentelemetry/api";
import { AdmissionKind, admissionKindToJSON, type Envelope } from "@pot/contracts";
import { ATTR, createCounter, METRICS } from "@pot/telemetry";

const KINDS = [
  AdmissionKind.ADMISSION_KIND_GENESIS,
  AdmissionKind.ADMISSION_KIND_SPONSORED,
  AdmissionKind.ADMISSION_KIND_CONTROLLED,
];

/** "ADMISSION_KIND_SPONSORED" -> "sponsored". */
const label = (name: string) => name.replace(/^ADMISSION_KIND_/, "").toLowerCase();

/**
 * Identity's domain metrics, counted from the events it appends (once per event, whichever replica
 * appends it): admissions by kind, exclusions, credits granted and redeemed.
 */
export function identityMetrics(): (envelope: Envelope) => void {
  const meter = metrics.getMeter("@pot/identity");
  const admitted = createCounter(meter, METRICS.membersAdmitted);
  const excluded = createCounter(meter, METRICS.membersExcluded);
  const issued = createCounter(meter, METRICS.creditsIssued);
  const redeemed = createCounter(meter, METRICS.creditsRedeemed);
  for (const kind of KINDS) admitted.add(0, { [ATTR.admissionKind]: label(admissionKindToJSON(kind)) });
  excluded.add(0);
  issued.add(0);
  redeemed.add(0);

  return (envelope) => {
    const event = envelope.event;
    switch (event?.$case) {
      case "memberAdmitted":
        admitted.add(1, { [ATTR.admissionKind]: label(admissionKindToJSON(event.value.kind)) });
        return;
      case "memberExcluded":
        excluded.add(1);
        return;
      case "creditsGranted":
        issued.add(event.value.count);
        return;
      case "creditRedeemed":
        redeemed.add(1);
        return;
      default:
        return;
    }
  };
}
