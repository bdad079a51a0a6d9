package io.roster.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.roster.InvalidOptionException;

import java.lang.reflect.Method;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;

/**
 * What backends on the JDK {@link HttpClient} (Consul, Eureka, ServiceComb) share: server addresses, path encoding
 * and shutting a client down.
 */
public final class Http {
    private static final Logger LOG = LoggerFactory.getLogger(Http.class);
    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private Http() {
    }

    /**
     * Percent-encodes one path segment or query value: UTF-8, everything but RFC 3986's unreserved characters and
     * {@code ':'} (allowed in a segment, and part of Eureka instance ids such as {@code 10.0.0.5:APP:9000}).
     *
     * @param text the raw text
     * @return the encoded text, such as {@code a%2Fb} for {@code a/b}
     */
    public static String pathSegment(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 8);
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "-._~:".indexOf(c) >= 0) {
                sb.append((char) c);
            } else {
                sb.append('%').append(HEX[c >> 4]).append(HEX[c & 15]);
            }
        }
        return sb.toString();
    }

    /**
     * Releases a JDK HTTP client at once, aborting requests in flight. Java 21 added {@code shutdownNow()}, called
     * here by reflection; on Java 17 there is nothing to call and the client's selector thread ends once the
     * client is no longer referenced, so callers must drop their reference too.
     *
     * @param client the client, or {@code null}
     */
    public static void shutdown(HttpClient client) {
        if (client == null) {
            return;
        }
        try {
            Method shutdownNow = HttpClient.class.getMethod("shutdownNow");
            shutdownNow.invoke(client);
        } catch (NoSuchMethodException e) {
            // Java 17: nothing to call
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.debug("HttpClient.shutdownNow() failed: {}", e.toString());
        }
    }

    /**
     * Reads a server address of a registry URI or builder into the base URI requests are resolved against.
     *
     * @param backend the scheme, for messages, such as {@code consul}
     * @param address {@code host}, {@code host:port}, {@code [::1]:port} or {@code http(s)://host[:port]}
     * @param secure whether TLS is on: a bare address becomes {@code https}, an {@code http://} one is refused
     * @param httpPort the port of a plain address without one
     * @param httpsPort the port of a TLS address without one
     * @return such as {@code http://10.0.0.1:8500/}
     * @throws InvalidOptionException naming {@code address} (or {@code tls}) and the rule
     */
    public static URI baseUri(String backend, String address, boolean secure, int httpPort, int httpsPort) {
        if (address == null || address.isBlank()) {
            throw bad(backend, "address", "must not be blank");
        }
        String text = address.contains("://") ? address : (secure ? "https://" : "http://") + address;
        try {
            URI uri = new URI(text);
            String scheme = uri.getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme)) {
                throw bad(backend, "address", "must be host:port or an http(s) URI, was '" + address + "'");
            }
            if (secure && scheme.equals("http")) {
                throw bad(backend, "tls", "is on but the address is http://");
            }
            if (uri.getHost() == null || uri.getRawUserInfo() != null || uri.getRawQuery() != null
                    || (uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/"))) {
                throw bad(backend, "address", "must be host:port with no user, path or query, was '" + address + "'");
            }
            int port = uri.getPort() > 0 ? uri.getPort() : scheme.equals("https") ? httpsPort : httpPort;
            return new URI(scheme, null, uri.getHost(), port, "/", null, null);
        } catch (URISyntaxException e) {
            throw bad(backend, "address", "must be host:port, was '" + address + "' (" + e.getReason() + ")");
        }
    }

    private static InvalidOptionException bad(String backend, String option, String rule) {
        return new InvalidOptionException(option, backend + " option '" + option + "' " + rule);
    }
}
