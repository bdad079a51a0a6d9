package io.roster.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Method;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;

/**
 * What backends on the JDK {@link HttpClient} (Consul, Eureka) share: path encoding and shutting a client down.
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
}
