package io.roster.spi;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Optional;

/**
 * Endpoint helpers shared by the backends that store host and port apart from the scheme (Nacos, Eureka, Consul,
 * Kubernetes) and by readers of records written by other clients.
 */
public final class Endpoints {
    private Endpoints() {
    }

    /**
     * Builds {@code scheme://host:port}, bracketing an IPv6 host.
     *
     * @param scheme such as {@code grpc}
     * @param host a host name or IP address, bracketed or not
     * @param port the port
     * @return the endpoint
     * @throws IllegalArgumentException when the parts do not make a valid URI
     */
    public static URI of(String scheme, String host, int port) {
        String h = host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
        try {
            return new URI(scheme + "://" + h + ":" + port);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a valid endpoint: " + scheme + "://" + h + ":" + port, e);
        }
    }

    /**
     * Returns the host of an endpoint without IPv6 brackets, as registries that store an IP field expect.
     *
     * @param endpoint such as {@code grpc://[::1]:9000}
     * @return such as {@code ::1}
     */
    public static String host(URI endpoint) {
        String host = endpoint.getHost();
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    /**
     * Returns {@code host:port} of an endpoint, IPv6 bracketed, as in a TCP address.
     *
     * @param endpoint such as {@code grpc://[::1]:9000}
     * @return such as {@code [::1]:9000}
     */
    public static String hostPort(URI endpoint) {
        return endpoint.getHost() + ":" + endpoint.getPort();
    }

    /**
     * Reads an endpoint written by any client, leniently, as Kratos's {@code ParseEndpoint} does: a query, a
     * fragment and an empty path are dropped, and the legacy {@code ?isSecure=true} of Kratos 2.0–2.3 turns
     * {@code grpc}/{@code http} into {@code grpcs}/{@code https}.
     *
     * @param text such as {@code grpc://10.0.0.5:9000?isSecure=false}
     * @return the clean endpoint, or empty when the text is not {@code scheme://host:port}
     */
    public static Optional<URI> lenient(String text) {
        if (text == null || text.isBlank()) {
            return Optional.empty();
        }
        try {
            URI uri = new URI(text.trim());
            String scheme = uri.getScheme() == null ? null : uri.getScheme().toLowerCase(java.util.Locale.ROOT);
            if (scheme == null || uri.getHost() == null || uri.getPort() < 1 || uri.getPort() > 65535) {
                return Optional.empty();
            }
            String path = uri.getRawPath();
            if (path != null && !path.isEmpty() && !path.equals("/")) {
                return Optional.empty();
            }
            String query = uri.getRawQuery();
            if (query != null && query.matches("(?i)(.*&)?isSecure=true(&.*)?")
                    && (scheme.equals("grpc") || scheme.equals("http"))) {
                scheme = scheme + "s";
            }
            return Optional.of(of(scheme, uri.getHost(), uri.getPort()));
        } catch (URISyntaxException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
