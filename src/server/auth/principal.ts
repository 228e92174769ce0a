/** Who is calling, once authenticated. */
export interface Principal {
  /** Static token name, JWT subject, or the dev token's name. */
  readonly id: string;
  readonly groups: readonly string[];
  readonly via: 'static-token' | 'jwt' | 'session';
}
