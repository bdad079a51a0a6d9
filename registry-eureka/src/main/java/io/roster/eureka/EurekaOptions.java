package io.roster.eureka;

import io.roster.InvalidOptionException;
import io.roster.spi.Durations;

import javax.net.ssl.SSLContext;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The validated settings of one {@link EurekaRegistry}. {@link #toString()} never shows the password.
 */
final class EurekaOptions {
    static final Duration DEFAULT_RENEW = Duration.ofSeconds(10);
    static final Duration DEFAULT_LEASE = Duration.ofSeconds(30);
    static final Duration DEFAULT_REFRESH = Duration.ofSeconds(5);
    static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(3);
    static final int DEFAULT_MAX_CONNECTIONS = 8;
    static final int MAX_CONNECTIONS = 1024;

    final List<URI> servers;
    final String user;
    final String password;
    final Duration renew;
    final Duration lease;
    final Duration refresh;
    final Duration timeout;
    final int maxConnections;
    final SSLContext sslContext;
    final boolean upOnly;

    EurekaOptions(List<URI> servers, String user, String password, Duration renew, Duration lease,
                  Duration refresh, Duration timeout, int maxConnections, SSLContext sslContext, boolean upOnly) {
        if (servers.isEmpty()) {
            throw new InvalidOptionException("servers", "eureka needs at least one server URL, such as "
                    + "http://10.0.0.1:8761/eureka");
        }
        this.servers = servers.stream().map(EurekaOptions::checkServer).collect(Collectors.toUnmodifiableList());
        if ((user == null) != (password == null)) {
            throw new InvalidOptionException(user == null ? "user" : "password",
                    "eureka basic authentication needs both a user and a password");
        }
        if (user != null && (user.isEmpty() || user.indexOf(':') >= 0)) {
            throw new InvalidOptionException("user", "eureka option 'user' must be non-empty and contain no ':'");
        }
        this.user = user;
        this.password = password;
        this.renew = positive("renew", renew);
        this.lease = positive("lease", lease);
        if (lease.toMillis() % 1000 != 0) {
            throw new InvalidOptionException("lease", "eureka option 'lease' must be whole seconds (Eureka counts "
                    + "leases in seconds), was " + Durations.format(lease));
        }
        if (lease.compareTo(renew) <= 0) {
            throw new InvalidOptionException("lease", "eureka option 'lease' (" + Durations.format(lease)
                    + ") must be longer than 'renew' (" + Durations.format(renew) + "), ideally three times");
        }
        this.refresh = positive("refresh", refresh);
        this.timeout = positive("timeout", timeout);
        if (maxConnections < 1 || maxConnections > MAX_CONNECTIONS) {
            throw new InvalidOptionException("maxConnections", "eureka option 'maxConnections' must be between 1 and "
                    + MAX_CONNECTIONS + ", was " + maxConnections);
        }
        this.maxConnections = maxConnections;
        this.sslContext = sslContext;
        this.upOnly = upOnly;
    }

    private static Duration positive(String name, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new InvalidOptionException(name, "eureka option '" + name + "' must be a positive duration, was "
                    + (d == null ? "null" : Durations.format(d)));
        }
        return d;
    }

    /** A server URL is the base under which Eureka serves {@code /apps}: scheme, host, port, path, nothing else. */
    private static URI checkServer(URI url) {
        if (url == null) {
            throw new InvalidOptionException("servers", "eureka server URL must not be null");
        }
        if (url.toString().indexOf('@') >= 0) {
            // A password inside a URL ends up in logs; credentials go through their own option. Checked first and
            // on the whole text: a password containing '/', '?' or '#' ends the authority early, so that the
            // rest of it looks like a path.
            throw new InvalidOptionException("servers", "eureka server URL must not carry user info; give the "
                    + "user and password as credentials");
        }
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw badServer(url, "must start with http:// or https://");
        }
        if (url.getHost() == null) {
            throw badServer(url, "needs a host and, if any, a port 1-65535 (java.net.URI takes no '_' in a host "
                    + "name)");
        }
        if (url.getPort() != -1 && (url.getPort() < 1 || url.getPort() > 65535)) {
            throw badServer(url, "needs a port 1-65535");
        }
        if (url.getRawQuery() != null || url.getRawFragment() != null) {
            throw badServer(url, "must have no query or fragment");
        }
        String path = url.getRawPath() == null ? "" : url.getRawPath();
        while (path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        return URI.create(scheme + "://" + url.getRawAuthority() + path);
    }

    /** Only for URLs without '@', so that the URL shown holds no password. */
    private static InvalidOptionException badServer(URI url, String rule) {
        return new InvalidOptionException("servers", "eureka server URL " + rule + ", such as "
                + "http://10.0.0.1:8761/eureka; was '" + url + "'");
    }

    /** Whole seconds for Eureka's lease fields, at least one. */
    static int seconds(Duration d) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, (d.toMillis() + 999) / 1000));
    }

    @Override
    public String toString() {
        return "EurekaOptions{servers=" + servers + (user == null ? "" : ", user=" + user + ", password=***")
                + ", renew=" + Durations.format(renew) + ", lease=" + Durations.format(lease) + ", refresh="
                + Durations.format(refresh) + ", timeout=" + Durations.format(timeout) + ", maxConnections="
                + maxConnections + ", status="
                + (upOnly ? "up" : "any") + "}";
    }
}
