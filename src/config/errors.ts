/** Raised when configuration cannot be read or is invalid; start-up must stop. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  /** One line per problem, each naming the key path: `http.addr: expected string, got array`. */
  readonly problems: readonly string[];
  /** Where the configuration came from: a file path, or `<embedded default>`. */
  readonly source: string;

  constructor(problems: readonly string[], source: string) {
    super(`invalid configuration (${source}):\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.source = source;
  }
}
