package io.roster.eureka;

import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.spi.Options;
import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Serves {@code eureka://} URIs:
 *
 * <pre>
 * eureka://[user:password@]server[,server...][?option=value&amp;...]
 * server = host[:port][/path]
 * </pre>
 *
 * <p>Each server may carry its own path ({@code eureka://10.0.0.1:8761/eureka,10.0.0.2:8761/eureka}); servers
 * written without one share the path the others give ({@code eureka://10.0.0.1:8761,10.0.0.2:8761/eureka}), and
 * when no server has a path it is {@code /eureka}, a Spring Cloud Eureka server's (a Netflix server needs
 * {@code /eureka/v2}; a bare {@code /} means the server's root). The port defaults to the scheme's (80, 443).
 *
 * <p>Options: {@code renew} (renewal interval, 10 s), {@code lease} (lease duration sent to the server, whole
 * seconds, 30 s), {@code refresh} (watch refresh interval, 5 s), {@code timeout} (per request, 3 s),
 * {@code maxConnections} (the most connections open to each server, 1 to 1024, 8), {@code tls}
 * ({@code https} to every server, false), {@code user} and {@code password} (basic authentication, also accepted
 * as the URI's user info), {@code status} ({@code up}: only UP instances, the default; {@code any}: all).
 */
public final class EurekaRegistryProvider implements RegistryProvider {
    private static final String DEFAULT_PATH = "/eureka";

    /** Creates the provider; called by {@link java.util.ServiceLoader}. */
    public EurekaRegistryProvider() {
    }

    @Override
    public String scheme() {
        return "eureka";
    }

    @Override
    public Registry open(RegistryUri uri) {
        Options options = uri.options();
        EurekaRegistry.Builder builder = EurekaRegistry.builder()
                .renewalInterval(options.duration("renew", EurekaOptions.DEFAULT_RENEW))
                .leaseDuration(options.duration("lease", EurekaOptions.DEFAULT_LEASE))
                .refreshInterval(options.duration("refresh", EurekaOptions.DEFAULT_REFRESH))
                .timeout(options.duration("timeout", EurekaOptions.DEFAULT_TIMEOUT))
                .maxConnections(options.integer("maxConnections", EurekaOptions.DEFAULT_MAX_CONNECTIONS));
        boolean tls = options.bool("tls", false);
        Optional<String> user = options.string("user");
        Optional<String> password = options.secret("password");
        String status = options.string("status", "up");
        if (!status.equals("up") && !status.equals("any")) {
            throw options.bad("status", "must be 'up' or 'any', was '" + status + "'");
        }
        options.requireAllKnown();
        if (uri.user().isPresent() && (user.isPresent() || password.isPresent())) {
            throw new InvalidOptionException("user", "eureka URI gives credentials twice: use either user:password@ "
                    + "or the user and password options");
        }
        if (uri.user().isPresent()) {
            user = uri.user();
            password = uri.password();
        }
        if (user.isPresent() != password.isPresent()) {
            throw new InvalidOptionException(user.isPresent() ? "password" : "user",
                    "eureka basic authentication needs both a user and a password");
        }
        if (user.isPresent()) {
            builder.credentials(user.get(), password.get());
        }
        return builder.serverUrls(servers(uri, tls)).upOnly(status.equals("up")).build();
    }

    /**
     * Reads the server list. {@link RegistryUri} splits the authority at commas but gives one path, so
     * {@code h1:8761/eureka,h2:8761/eureka} arrives as host {@code h1:8761} and path {@code /eureka,h2:8761/eureka}:
     * joining hosts and path gives back the server list as written.
     */
    static List<URI> servers(RegistryUri uri, boolean tls) {
        if (uri.hosts().isEmpty()) {
            throw new InvalidOptionException("servers", "eureka URI needs at least one server, such as "
                    + "eureka://10.0.0.1:8761/eureka");
        }
        String[] entries = (String.join(",", uri.hosts()) + uri.path()).split(",", -1);
        for (String entry : entries) {
            if (entry.indexOf('@') >= 0) {
                // Nothing of the text is shown: it is most likely the rest of a password that held a '/'.
                throw new InvalidOptionException("servers", "eureka URI takes user info only before the first "
                        + "server, or as the user and password options; a password containing '/', '?' or '#' "
                        + "must be percent-encoded (%2F, %3F, %23)");
            }
        }
        List<String> hosts = new ArrayList<>();
        List<String> paths = new ArrayList<>();
        Set<String> given = new LinkedHashSet<>();
        for (String entry : entries) {
            int slash = entry.indexOf('/');
            String host = (slash < 0 ? entry : entry.substring(0, slash)).trim();
            String path = slash < 0 ? null : entry.substring(slash).trim();
            if (host.isEmpty()) {
                throw new InvalidOptionException("servers", "eureka URI has a server without a host in '"
                        + String.join(",", entries) + "'");
            }
            hosts.add(host);
            paths.add(path);
            if (path != null) {
                given.add(path);
            }
        }
        if (given.size() > 1 && paths.contains(null)) {
            throw new InvalidOptionException("servers", "eureka URI gives different paths " + given + " and "
                    + "servers without one: give the path on every server, or once for all");
        }
        String shared = given.isEmpty() ? DEFAULT_PATH : given.iterator().next();
        List<URI> servers = new ArrayList<>();
        for (int i = 0; i < hosts.size(); i++) {
            String path = paths.get(i) == null ? shared : paths.get(i);
            String text = (tls ? "https" : "http") + "://" + hosts.get(i) + (path.equals("/") ? "" : path);
            try {
                URI server = new URI(text);
                if (server.getHost() == null) {
                    throw new java.net.URISyntaxException(text, "no host");
                }
                servers.add(server);
            } catch (java.net.URISyntaxException e) {
                throw new InvalidOptionException("servers", "eureka URI has a bad server '" + hosts.get(i) + path
                        + "': " + e.getReason());
            }
        }
        return servers;
    }
}
