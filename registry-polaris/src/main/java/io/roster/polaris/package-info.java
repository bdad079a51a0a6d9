/**
 * The Polaris backend: {@code polaris://host:8091?namespace=default&ttl=5s}, or
 * {@link io.roster.polaris.PolarisRegistry#builder()}.
 *
 * <h2>Client</h2>
 * Built on the Polaris Java SDK 2.0.0.0 ({@code polaris-discovery-factory}, gRPC to the server's port 8091). The
 * registry creates its own SDK context from the SDK's built-in defaults ({@code polaris.yml} is not read) with the
 * on-disk cache, the Prometheus reporter and the client report off, or uses a given {@code SDKContext} and leaves it
 * open.
 *
 * <h2>On the registry</h2>
 * As Go Kratos's {@code contrib/polaris} writes it: one Polaris instance per endpoint of service {@code <name>}, with
 * {@code protocol} = the scheme, the version, weight = metadata {@code weight} or the {@code weight} option (100),
 * a heartbeat TTL, and metadata = the instance's + {@code merge=<id>} + {@code roster.part=<k>/<n>}. Metadata keys
 * {@code merge} and {@code roster.part} are therefore reserved. Discovery returns healthy, non-isolated instances
 * grouped by {@code merge}; Kratos's {@code contrib/registry/polaris} services ({@code <name><scheme>}) are read too
 * with the {@code registrySchemes} option.
 *
 * <h2>The SDK's files, logs and threads</h2>
 * When the SDK finds Logback or Log4j it adds its own file appenders under {@code ${user.dir}/polaris/logs}
 * ({@code -Dpolaris.log.home} moves them). Every thread of a context this registry created ends on {@code close()};
 * the SDK's watch API, whose per-context dispatch threads are never stopped, is not used.
 */
package io.roster.polaris;
