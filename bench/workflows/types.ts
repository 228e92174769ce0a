/**
 * What each benchmark workflow carries: shaped like the access-grant saga's data (a delegation
 * token, a subject's PII, free text), about 1 KB of input, so every variant seals realistic payloads.
 */
export interface BenchInput {
  requestId: string;
  subject: { name: string; email: string };
  delegationToken: string;
  resource: string;
  justification: string;
}

export interface BenchApproval {
  approver: string;
  note: string;
}

export interface BenchGrant {
  grantId: string;
  credential: string;
}

export interface BenchResult {
  requestId: string;
  grantId: string;
  receipt: string;
}

export function benchInput(workflowId: string): BenchInput {
  return {
    requestId: workflowId,
    subject: { name: 'Ann Benchmark', email: `ann+${workflowId}@patient.example` },
    delegationToken: `dlg_${workflowId}_7Hq2ZpL9sWxK4vRm`,
    resource: 'db:orders:read',
    justification: `on-call access for ticket SEC-${workflowId}: `.padEnd(800, 'lorem ipsum dolor sit amet '),
  };
}

export const benchApproval = (workflowId: string): BenchApproval => ({ approver: 'dana@corp.example', note: `approved ${workflowId} per ticket SEC-98765` });
