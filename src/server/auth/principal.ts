/** Who is calling, once authenticated. */
export interface Principal {
  /** Static token name, JWT subject, or the dev token's name. */
  readonly id: string;
  readonly groups: readonly string[];
  readonly via: 'static-token' | 'jwt' | 'session';
}

/** A token that checked out, with what a session made from it must not outlive. */
export interface VerifiedCredential {
  readonly principal: Principal;
  /** When the credential itself expires (a JWT's `exp`), seconds since the epoch. */
  readonly expiresAt?: number;
  /** For a static token: its configured hash (hex), which a session refers to while it is configured. */
  readonly staticTokenHash?: string;
}
