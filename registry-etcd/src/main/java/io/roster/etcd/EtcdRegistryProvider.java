package io.roster.etcd;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Serves {@code etcd://} URIs with an {@link EtcdRegistry}:
 *
 * <pre>
 * etcd://[user:password@]host1:2379,host2:2379[/namespace][?option=value&amp;...]
 * </pre>
 *
 * <ul>
 *   <li>hosts: {@code host:port} or {@code host} (port 2379), comma-separated, all of one cluster;</li>
 *   <li>path: the key namespace, default {@code /microservices} (keys {@code <namespace>/<name>/<id>});</li>
 *   <li>{@code ttl}: lease TTL, whole seconds, default {@code 15s};</li>
 *   <li>{@code timeout}: bound of each request, default {@code 5s};</li>
 *   <li>{@code maxRequestBytes}: etcd's {@code --max-request-bytes}, default {@code 1572864} (1.5 MiB): an
 *       instance whose request would be larger is refused before anything is sent;</li>
 *   <li>{@code user}, {@code password}: etcd auth (or as user info before the hosts; not both);</li>
 *   <li>{@code tls}: {@code true} to connect with TLS, verified with the JDK's trusted CAs unless
 *       {@code caFile} is given;</li>
 *   <li>{@code caFile}: PEM CA certificate that verifies the server (turns TLS on);</li>
 *   <li>{@code certFile}, {@code keyFile}: PEM client certificate and PKCS#8 PEM key, for etcd's
 *       {@code --client-cert-auth} (turn TLS on).</li>
 * </ul>
 *
 * <p>Example: {@code etcd://10.0.0.1:2379,10.0.0.2:2379/microservices?ttl=15s&timeout=3s&user=app&password=...
 * &caFile=/etc/etcd/ca.pem}. Unknown options and bad values fail naming the option; the password never appears in
 * messages or {@code toString()}.
 */
public final class EtcdRegistryProvider implements RegistryProvider {

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public EtcdRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "etcd";
    }

    @Override
    public Registry open(RegistryUri uri) {
        if (uri.hosts().isEmpty()) {
            throw new InvalidOptionException("hosts", "etcd URI needs at least one host, such as "
                    + "etcd://127.0.0.1:2379, was " + uri);
        }
        Options options = uri.options();
        EtcdRegistry.Builder builder = EtcdRegistry.builder().endpoints(uri.hosts());
        if (!uri.path().isEmpty() && !uri.path().equals("/")) {
            builder.namespace(uri.path());
        }
        builder.ttl(options.duration("ttl", Duration.ofSeconds(15)));
        builder.timeout(options.duration("timeout", Duration.ofSeconds(5)));
        builder.maxRequestBytes(options.integer("maxRequestBytes", EtcdRegistry.DEFAULT_MAX_REQUEST_BYTES));

        Optional<String> user = options.string("user");
        Optional<String> password = options.secret("password");
        if (uri.user().isPresent() && (user.isPresent() || password.isPresent())) {
            throw new InvalidOptionException("user", "etcd URI gives credentials twice: as user info and as "
                    + "options; keep one");
        }
        user = user.or(uri::user);
        password = password.or(uri::password);
        if (user.isPresent() || password.isPresent()) {
            builder.credentials(user.orElse(null), password.orElse(null));
        }

        if (options.bool("tls", false)) {
            builder.tls(true);
        }
        options.string("caFile").map(Path::of).ifPresent(builder::trustedCa);
        Optional<Path> certFile = options.string("certFile").map(Path::of);
        Optional<Path> keyFile = options.string("keyFile").map(Path::of);
        if (certFile.isPresent() != keyFile.isPresent()) {
            String missing = certFile.isPresent() ? "keyFile" : "certFile";
            throw new InvalidOptionException(missing, "etcd options 'certFile' and 'keyFile' go together; '"
                    + missing + "' is missing");
        }
        certFile.ifPresent(cert -> builder.clientCertificate(cert, keyFile.get()));
        options.requireAllKnown();
        return builder.build();
    }
}
