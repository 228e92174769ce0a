/** What a vector tool's `verify` prints (test/cross-language/README.md). */
export interface VerifySummary {
  generator: string;
  verifier: string;
  opened: number;
  rejected: number;
  failures: string[];
}
