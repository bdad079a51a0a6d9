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
     * Reads an endpoint written by any client, leniently, as Kratos's {@code ParseEndpoint} does: anything with a
     * scheme, a host and a port 1–65535 is kept as written, path, query and all (Kratos ignores the query, so
     * the legacy {@code ?isSecure=true} of Kratos 2.0–2.3 stays a plaintext endpoint, as it is for Go clients).
     * Only the scheme is lower-cased, as Go's URL parser does.
     *
     * @param text such as {@code grpc://10.0.0.5:9000} or {@code http://10.0.0.1:8000/api}
     * @return the endpoint, or empty when the text has no usable scheme, host and port
     */
    public static Optional<URI> lenient(String text) {
        if (text == null || text.isBlank()) {
            return Optional.empty();
        }
        try {
            URI uri = new URI(text.trim());
            if (uri.getScheme() == null || uri.getHost() == null || uri.getPort() < 1 || uri.getPort() > 65535) {
                return Optional.empty();
            }
            String scheme = uri.getScheme().toLowerCase(java.util.Locale.ROOT);
            if (!scheme.equals(uri.getScheme())) {
                uri = new URI(scheme + uri.toString().substring(scheme.length()));
            }
            return Optional.of(uri);
        } catch (URISyntaxException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
