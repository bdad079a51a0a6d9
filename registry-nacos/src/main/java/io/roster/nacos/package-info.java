/**
 * The Nacos backend: {@code nacos://host:8848?namespace=…&group=DEFAULT_GROUP&cluster=DEFAULT}, or
 * {@link io.roster.nacos.NacosRegistry#builder()}.
 *
 * <h2>Servers and client</h2>
 * Built on nacos-client 3.1 (gRPC to the main port + 1000). Supported servers: Nacos 3.x, and Nacos 2.x from 2.2.0
 * on (batch registration, which this backend needs for several instances of one service in one process, came with
 * 2.2.0). Nacos 1.x servers have no gRPC and are not supported. nacos-client 3.x uses the namespace id
 * {@code public} when none is given, which naming on 2.x servers also calls {@code public}.
 *
 * <h2>On the registry</h2>
 * As Go Kratos writes it: each endpoint is one ephemeral instance of service {@code <name>.<scheme>}, with the
 * endpoint's ip and port, weight from metadata {@code weight} (or the {@code weight} option, 100), metadata = the
 * instance's metadata + {@code kind=<scheme>} + {@code version=<version>} + {@code roster.instance=<id>#<k>/<n>}
 * (endpoint k of n) + {@code roster.schemes=<scheme of each endpoint, in order>} (Go ignores both). Metadata keys
 * {@code kind}, {@code version}, {@code roster.instance} and {@code roster.schemes} are therefore reserved, and
 * names must not end with {@code .<scheme>} of a discovery scheme. A reader shows an instance with the endpoints
 * in the schemes it reads, once all of those are visible; an endpoint in another scheme does not hide it.
 *
 * <h2>nacos-client's files and threads</h2>
 * nacos-client writes a naming cache under {@code ${user.home}/nacos/naming/<namespace>} (system property or
 * builder property {@code JM.SNAPSHOT.PATH} moves it) and, when it finds Logback or Log4j 2, adds its own
 * appenders writing to {@code ${user.home}/logs/nacos/naming.log} ({@code JM.LOG.PATH} replaces
 * {@code ${user.home}/logs};
 * {@code -Dnacos.logging.default.config.enabled=false} keeps nacos-client out of the logging configuration). Every
 * thread a registry's client starts ends on {@code close()} (gRPC's shared ones a second later, also when the server
 * stopped answering), except five event threads that nacos-client starts once per JVM with its first client and
 * shares among all of them ({@code nacos.publisher-...}); they end with the JVM.
 */
package io.roster.nacos;
