/** The access-grant saga's data: every field here is something that must not sit in history as plaintext. */
export interface GrantRequest {
  requestId: string;
  subject: { name: string; email: string };
  /** A delegation token the requester acts under. */
  delegationToken: string;
  resource: string;
  /** Make the notification step fail, to exercise the compensation path. */
  failNotification?: boolean;
}

export interface Approval {
  approver: string;
  note: string;
}

export interface Grant {
  grantId: string;
  /** The provisioned secret, e.g. a short-lived database password. */
  credential: string;
  /** Who the warrant header said the activity ran for (proves the header reached the activity opened). */
  actingFor: string;
}

export interface GrantStatus {
  stage: 'awaiting-approval' | 'provisioning' | 'granted' | 'compensated';
  subjectEmail: string;
  justification: string;
}

export interface GrantResult {
  stage: 'granted' | 'compensated';
  grantId: string;
  auditRecord: string;
  /** Why compensation ran: the failure message, which carries PII. */
  reason?: string;
}

export const TASK_QUEUE = 'access-grants';
/** The header our interceptors carry end to end (the SDK itself never encodes headers). */
export const WARRANT_HEADER = 'warrant';
