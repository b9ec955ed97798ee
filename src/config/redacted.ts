/**
 * What stands in for a secret in rendered configuration and log lines. A module of its own, so
 * the logger can use it without loading redact.ts with yaml and the schema.
 */
export const REDACTED = '<redacted>';
