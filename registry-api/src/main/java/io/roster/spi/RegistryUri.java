package io.roster.spi;

import io.roster.InvalidOptionException;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A registry URI taken apart for a provider:
 * {@code scheme://[user[:password]@]host1:port1,host2:port2[/path][?option=value&...]}.
 *
 * <p>Several comma-separated hosts are allowed (a cluster). User info and query values are percent-decoded.
 * {@link #toString()} never shows the password or secret options.
 */
public final class RegistryUri {
    private static final Pattern USER_INFO = Pattern.compile("(?<=://)[^/?#@]*@");
    private static final Pattern SECRET_PARAM =
            Pattern.compile("(?i)([?&][^=&]*(?:password|token|secret)[^=&]*=)[^&#]*");

    private final String scheme;
    private final List<String> hosts;
    private final String user;
    private final String password;
    private final String path;
    private final Options options;

    private RegistryUri(String scheme, List<String> hosts, String user, String password, String path,
                        Options options) {
        this.scheme = scheme;
        this.hosts = List.copyOf(hosts);
        this.user = user;
        this.password = password;
        this.path = path;
        this.options = options;
    }

    /**
     * Takes a registry URI apart.
     *
     * @param uri such as {@code etcd://10.0.0.1:2379,10.0.0.2:2379/microservices?ttl=15s}
     * @return the parts
     * @throws InvalidOptionException when the URI has no scheme, an empty host in a list, or an option twice
     */
    public static RegistryUri parse(URI uri) {
        String scheme = uri.getScheme();
        if (scheme == null) {
            throw new InvalidOptionException("uri", "registry URI needs a scheme such as etcd:// or mem://, was '"
                    + redact(uri.toString()) + "'");
        }
        scheme = scheme.toLowerCase(Locale.ROOT);
        String authority = uri.getRawAuthority();
        String user = null;
        String password = null;
        List<String> hosts = new ArrayList<>();
        if (authority != null && !authority.isEmpty()) {
            int at = authority.lastIndexOf('@');
            if (at >= 0) {
                String info = authority.substring(0, at);
                authority = authority.substring(at + 1);
                int colon = info.indexOf(':');
                user = decode(colon < 0 ? info : info.substring(0, colon));
                password = colon < 0 ? null : decode(info.substring(colon + 1));
            }
            for (String h : authority.split(",", -1)) {
                if (h.isBlank()) {
                    throw new InvalidOptionException("hosts", scheme + " URI has an empty entry in its host list");
                }
                hosts.add(decode(h.trim()));
            }
        }
        String path = uri.getRawPath() == null ? "" : decode(uri.getRawPath());
        Map<String, String> values = new LinkedHashMap<>();
        String query = uri.getRawQuery();
        if (query != null && !query.isEmpty()) {
            for (String pair : query.split("&")) {
                if (pair.isEmpty()) {
                    continue;
                }
                int eq = pair.indexOf('=');
                String name = decode(eq < 0 ? pair : pair.substring(0, eq));
                String value = eq < 0 ? "" : decode(pair.substring(eq + 1));
                if (values.putIfAbsent(name, value) != null) {
                    throw new InvalidOptionException(name, scheme + " option '" + name + "' is given twice");
                }
            }
        }
        return new RegistryUri(scheme, hosts, user, password, path, new Options(scheme, values));
    }

    /**
     * Hides the user info and secret query values of a URI's text, for messages about a URI that did not parse.
     *
     * @param text any text that may contain a URI
     * @return the text with {@code user:password@} and {@code password=...}/{@code token=...} values masked
     */
    public static String redact(String text) {
        String masked = USER_INFO.matcher(text).replaceAll("***@");
        return SECRET_PARAM.matcher(masked).replaceAll("$1***");
    }

    private static String decode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        // Percent-decoding only: '+' stays '+', as RFC 3986 says (URLDecoder would turn it into a space).
        StringBuilder out = new StringBuilder(s.length());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            int hi = c == '%' && i + 2 < s.length() ? Character.digit(s.charAt(i + 1), 16) : -1;
            int lo = hi >= 0 ? Character.digit(s.charAt(i + 2), 16) : -1;
            if (lo >= 0) {
                bytes.write(hi * 16 + lo);
                i += 2;
                continue;
            }
            if (bytes.size() > 0) {
                out.append(bytes.toString(StandardCharsets.UTF_8));
                bytes.reset();
            }
            out.append(c);
        }
        return out.append(bytes.toString(StandardCharsets.UTF_8)).toString();
    }

    /**
     * Returns the scheme, lower-case.
     *
     * @return such as {@code etcd}
     */
    public String scheme() {
        return scheme;
    }

    /**
     * Returns the hosts of the authority, in order.
     *
     * @return such as {@code [10.0.0.1:2379, 10.0.0.2:2379]}; empty when the URI has none
     */
    public List<String> hosts() {
        return hosts;
    }

    /**
     * Returns the user of the URI's user info.
     *
     * @return the decoded user, or empty
     */
    public Optional<String> user() {
        return Optional.ofNullable(user);
    }

    /**
     * Returns the password of the URI's user info. Never log it.
     *
     * @return the decoded password, or empty
     */
    public Optional<String> password() {
        return Optional.ofNullable(password);
    }

    /**
     * Returns the decoded path.
     *
     * @return such as {@code /microservices}; empty when the URI has none
     */
    public String path() {
        return path;
    }

    /**
     * Returns the query options.
     *
     * @return the options, to read and then check with {@link Options#requireAllKnown()}
     */
    public Options options() {
        return options;
    }

    /**
     * Returns the URI with the password and secret options masked.
     *
     * @return such as {@code etcd://root:***@10.0.0.1:2379/microservices?ttl=15s}
     */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(scheme).append("://");
        if (user != null) {
            sb.append(user).append(password == null ? "" : ":***").append('@');
        }
        sb.append(String.join(",", hosts)).append(path);
        String query = options.toString();
        return query.isEmpty() ? sb.toString() : sb.append('?').append(query).toString();
    }
}
