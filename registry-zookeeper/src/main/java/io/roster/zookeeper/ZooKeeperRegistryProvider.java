package io.roster.zookeeper;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.util.Optional;

/**
 * Serves {@code zookeeper://host1:2181,host2:2181[/root][?option=value&...]}, opening a {@link ZooKeeperRegistry}
 * that creates and owns its Curator client.
 *
 * <ul>
 *   <li>path: the root path, {@code /microservices} when absent (Kratos's default);</li>
 *   <li>{@code sessionTimeout}: the ZooKeeper session timeout, {@code 15s} by default;</li>
 *   <li>{@code connectionTimeout}: how long opening, and each operation, waits for a connection, {@code 5s} by
 *       default;</li>
 *   <li>{@code maxRecordBytes}: the largest instance record (JSON) {@code register} accepts, {@code 1000000} by
 *       default; ZooKeeper servers refuse requests over their {@code jute.maxbuffer} (1 MiB by default);</li>
 *   <li>{@code digest}: {@code user:password} (percent-encoded as needed); creates nodes with a digest ACL for
 *       that identity and authenticates with it. Never shown in messages or {@code toString()}.</li>
 * </ul>
 *
 * <p>Example: {@code zookeeper://10.0.0.1:2181,10.0.0.2:2181/microservices?sessionTimeout=15s&digest=app:s3cret}.
 */
public final class ZooKeeperRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public ZooKeeperRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "zookeeper";
    }

    @Override
    public Registry open(RegistryUri uri) {
        Options options = uri.options();
        Optional<String> digest = options.secret("digest"); // read first, so that it is masked from now on
        if (uri.user().isPresent()) {
            throw new InvalidOptionException("digest", "zookeeper URI takes credentials as ?digest=user:password,"
                    + " not as user info: " + uri);
        }
        if (uri.hosts().isEmpty()) {
            throw new InvalidOptionException("hosts", "zookeeper URI needs at least one host, such as"
                    + " zookeeper://127.0.0.1:2181/microservices");
        }
        ZooKeeperRegistry.Builder builder = ZooKeeperRegistry.builder()
                .connectString(String.join(",", uri.hosts()))
                .sessionTimeout(options.duration("sessionTimeout", ZooKeeperRegistry.DEFAULT_SESSION_TIMEOUT))
                .connectionTimeout(options.duration("connectionTimeout",
                        ZooKeeperRegistry.DEFAULT_CONNECTION_TIMEOUT))
                .maxRecordBytes(options.integer("maxRecordBytes", ZooKeeperNodes.DEFAULT_MAX_RECORD_BYTES));
        if (!uri.path().isEmpty()) {
            builder.rootPath(uri.path());
        }
        if (digest.isPresent()) {
            int colon = digest.get().indexOf(':');
            if (colon <= 0) {
                throw options.bad("digest", "expected user:password");
            }
            builder.digest(digest.get().substring(0, colon), digest.get().substring(colon + 1));
        }
        options.requireAllKnown();
        return builder.build();
    }
}
