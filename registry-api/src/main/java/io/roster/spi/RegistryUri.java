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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A registry URI taken apart for a provider:
 * {@code scheme://[user[:password]@]host1:port1,host2:port2[/path][?option=value&...]}.
 *
 * <p>Several comma-separated hosts are allowed (a cluster); a numeric port must be 1–65535, so a bad one fails at
 * {@code open()} for every backend (a port that is not a number is left to the provider's rules). User info and
 * query values are percent-decoded; a user name or password holding {@code / ? # @} must be percent-encoded, and a
 * URI where such a character evidently was not (an {@code @} after the host) is refused without being echoed.
 * {@link #toString()} never shows the password or secret options. A URI without user info but with an {@code @} in
 * its query may be one whose password held an unencoded {@code ?} ({@code etcd://root:12?x=y@host}): its hosts and
 * query may hold parts of the password, so {@link #toString()} shows only its scheme, and its {@link Options} show
 * no value and no unknown option name.
 */
public final class RegistryUri {
    private static final Pattern PARAM = Pattern.compile("[?&;]([^?&;=#\\s]*)=");
    private static final Pattern DIGITS = Pattern.compile("[0-9]+");

    private final String scheme;
    private final List<String> hosts;
    private final String user;
    private final String password;
    private final String path;
    private final Options options;
    private final String masked; // what toString() shows when the query may hold user info, else null

    private RegistryUri(String scheme, List<String> hosts, String user, String password, String path,
                        Options options, String masked) {
        this.scheme = scheme;
        this.hosts = List.copyOf(hosts);
        this.user = user;
        this.password = password;
        this.path = path;
        this.options = options;
        this.masked = masked;
    }

    /**
     * Takes a registry URI apart.
     *
     * @param uri such as {@code etcd://10.0.0.1:2379,10.0.0.2:2379/microservices?ttl=15s}
     * @return the parts
     * @throws InvalidOptionException when the URI is null, has no scheme, an empty host in a list, a port out of
     *     1–65535, an unencoded '@' after the host, or an option twice
     */
    public static RegistryUri parse(URI uri) {
        if (uri == null) {
            throw new InvalidOptionException("uri", "registry URI must not be null");
        }
        String scheme = uri.getScheme();
        if (scheme == null) {
            throw new InvalidOptionException("uri", "registry URI needs a scheme such as etcd:// or mem://, was '"
                    + redact(uri.toString()) + "'");
        }
        scheme = scheme.toLowerCase(Locale.ROOT);
        if (contains(uri.getRawPath(), '@') || contains(uri.getRawFragment(), '@')) {
            // A password holding '/' or '#' ends the authority early: the rest of it lands in the path or fragment
            // (and would be shown there, or taken for a host). Refuse rather than guess.
            throw new InvalidOptionException("uri", scheme + " URI has an '@' after its host: user info goes "
                    + "before the first host, and '/', '?', '#' and '@' in a user name or password must be "
                    + "percent-encoded (%2F, %3F, %23, %40), was '" + redact(uri.toString()) + "'");
        }
        String authority = uri.getRawAuthority();
        boolean textPort = false;
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
            String[] entries = authority.split(",", -1);
            for (int i = 0; i < entries.length; i++) {
                if (entries[i].isBlank()) {
                    throw new InvalidOptionException("hosts", scheme + " URI has an empty entry in its host list");
                }
                String entry = decode(entries[i].trim());
                textPort |= checkPort(scheme, i, entry);
                hosts.add(entry);
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
                if (name.indexOf('@') >= 0) {
                    // No option has '@' in its name: a password holding '?' put the rest of the user info here.
                    throw new InvalidOptionException("uri", scheme + " URI has an '@' in an option name: '/', "
                            + "'?', '#' and '@' in a user name or password must be percent-encoded (%2F, %3F, "
                            + "%23, %40), was '" + redact(uri.toString()) + "'");
                }
                if (values.putIfAbsent(name, value) != null) {
                    throw new InvalidOptionException(name, scheme + " option '" + name + "' is given twice");
                }
            }
        }
        if (textPort && user == null && contains(query, '@')) {
            // user:pa?x=ss@host: the password's '?' ended the authority early, leaving "user:pa" as a host.
            throw new InvalidOptionException("uri", scheme + " URI has a host whose port is not a number and an "
                    + "'@' in its query: '/', '?', '#' and '@' in a user name or password must be percent-encoded "
                    + "(%2F, %3F, %23, %40), was '" + redact(uri.toString()) + "'");
        }
        // No user info, and an '@' in the query: "root:12?x=y@host", a password whose '?' ended the authority
        // early, passes the checks above (its "port" is a number, no option name holds the '@'), and its hosts and
        // options then hold parts of the password. It may also be a lawful "?password=p@ss", so not even the text
        // after the last '@' is safe to show: nothing of it is.
        boolean mayHoldUserInfo = user == null && contains(query, '@');
        return new RegistryUri(scheme, hosts, user, password, path, new Options(scheme, values, mayHoldUserInfo),
                mayHoldUserInfo ? scheme + "://***" : null);
    }

    /**
     * Hides the user info and secret query values in text that may contain URIs, for messages and logs about a URI
     * that did not parse, or a failure whose text quotes one. Everything between {@code ://} and the last
     * {@code @} before the next URI (or the end of the text) is masked, since a password may hold {@code @},
     * {@code /}, {@code ?}, {@code #} or spaces; the values of query parameters with a secret name
     * ({@link Options#isSecretName}: {@code password}, {@code token}, {@code digest}, ...) are masked up to the next
     * {@code &}. This may hide more than the secret, never less.
     *
     * @param text any text that may contain a URI, or {@code null}
     * @return the text with user info and secret parameter values replaced by {@code ***}
     */
    public static String redact(String text) {
        if (text == null) {
            return null;
        }
        StringBuilder out = new StringBuilder(text.length());
        int done = 0;
        int at = text.indexOf("://");
        while (at >= 0) {
            int start = at + 3;
            int next = text.indexOf("://", start);
            int end = next < 0 ? text.length() : schemeStart(text, next);
            int lastAt = text.lastIndexOf('@', end - 1);
            if (lastAt >= start) {
                out.append(text, done, start).append("***");
                done = lastAt;
            }
            at = next;
        }
        String masked = out.append(text, done, text.length()).toString();
        StringBuilder result = new StringBuilder(masked.length());
        int copied = 0;
        Matcher param = PARAM.matcher(masked);
        while (param.find()) {
            if (Options.isSecretName(decode(param.group(1)))) {
                int valueEnd = masked.indexOf('&', param.end());
                valueEnd = valueEnd < 0 ? masked.length() : valueEnd;
                result.append(masked, copied, param.end()).append("***");
                copied = valueEnd;
                param.region(valueEnd, masked.length());
            }
        }
        return result.append(masked, copied, masked.length()).toString();
    }

    /** Where the scheme of the URI whose {@code ://} is at {@code colon} starts. */
    private static int schemeStart(String text, int colon) {
        int i = colon;
        while (i > 0) {
            char c = text.charAt(i - 1);
            if (!(Character.isLetterOrDigit(c) || c == '+' || c == '-' || c == '.')) {
                break;
            }
            i--;
        }
        return i;
    }

    private static boolean contains(String text, char c) {
        return text != null && text.indexOf(c) >= 0;
    }

    /**
     * Checks the port of one host entry ({@code host}, {@code host:port}, {@code [v6]:port}): a number must be
     * 1–65535. Text that is not a number is left to the provider's own rules (its message may name the entry).
     *
     * @return whether the entry has a port that is not a number
     */
    private static boolean checkPort(String scheme, int index, String entry) {
        int colon = entry.lastIndexOf(':');
        if (colon < 0 || entry.endsWith("]")) {
            return false;
        }
        String port = entry.substring(colon + 1);
        if (!DIGITS.matcher(port).matches()) {
            return !port.isEmpty();
        }
        long value = port.length() > 9 ? Long.MAX_VALUE : Long.parseLong(port);
        if (value < 1 || value > 65535) {
            throw new InvalidOptionException("hosts", scheme + " URI host entry " + (index + 1) + " has port "
                    + (value == Long.MAX_VALUE ? port : String.valueOf(value)) + ", out of the range 1-65535");
        }
        return false;
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
        if (masked != null) {
            return masked;
        }
        StringBuilder sb = new StringBuilder(scheme).append("://");
        if (user != null) {
            sb.append(user).append(password == null ? "" : ":***").append('@');
        }
        sb.append(String.join(",", hosts)).append(path);
        String query = options.toString();
        return query.isEmpty() ? sb.toString() : sb.append('?').append(query).toString();
    }
}
