/**
 * The configuration `berth serve` uses when given no file and no REGISTRY_CONFIGURATION_PATH,
 * mirroring the config.yml baked into the registry:2 image (but storing under ./data).
 */
export const DEFAULT_CONFIG_YAML = `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ./data
  delete:
    enabled: false
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
`;

/**
 * The configuration file to read, as `registry serve [file]` chooses it: the argument, else
 * REGISTRY_CONFIGURATION_PATH (an empty value counts as unset); undefined means the embedded default.
 */
export function configFilePath(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return file ?? (env['REGISTRY_CONFIGURATION_PATH'] || undefined);
}

/** How messages name the embedded default as a configuration source. */
export const DEFAULT_CONFIG_SOURCE = '<embedded default>';
