package io.roster.spi;

import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The instance JSON that Go Kratos stores in etcd and ZooKeeper, byte for byte:
 * {@code {"id":…,"name":…,"version":…,"metadata":{…}|null,"endpoints":[…]|null}} — compact, keys in that order,
 * metadata keys sorted, {@code null} for empty metadata and endpoints, strings escaped as Go's
 * {@code encoding/json} does (including {@code <}, {@code >}, {@code &} as {@code \u003c} …).
 *
 * <p>Reading follows Go's decoder: field names match case-insensitively, unknown fields are ignored,
 * {@code null} metadata or endpoints mean none, and endpoints are read leniently ({@link Endpoints#lenient}).
 */
public final class InstanceJson {
    private static final Logger LOG = LoggerFactory.getLogger(InstanceJson.class);
    private static final char[] HEX = "0123456789abcdef".toCharArray();
    private static final int MAX_DEPTH = 64;

    private InstanceJson() {
    }

    /**
     * Writes an instance as Kratos does.
     *
     * @param instance the instance
     * @return the compact JSON text
     */
    public static String encode(ServiceInstance instance) {
        StringBuilder sb = new StringBuilder(128);
        sb.append("{\"id\":");
        string(sb, instance.id());
        sb.append(",\"name\":");
        string(sb, instance.name());
        sb.append(",\"version\":");
        string(sb, instance.version());
        sb.append(",\"metadata\":");
        if (instance.metadata().isEmpty()) {
            sb.append("null");
        } else {
            object(sb, instance.metadata()); // sorted in code point order already
        }
        sb.append(",\"endpoints\":");
        if (instance.endpoints().isEmpty()) {
            sb.append("null");
        } else {
            sb.append('[');
            for (int i = 0; i < instance.endpoints().size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                string(sb, instance.endpoints().get(i).toString());
            }
            sb.append(']');
        }
        return sb.append('}').toString();
    }

    /**
     * Reads an instance, leniently (see {@link ServiceInstance.Builder#buildLenient()}): an endpoint without a usable
     * scheme, host and port is dropped silently; {@link #decodeOrSkip} logs it.
     *
     * @param json the JSON text
     * @return the instance
     * @throws InvalidInstanceException when the text is not JSON of that shape (field {@code json}) or the
     *     instance breaks a reading rule
     */
    public static ServiceInstance decode(String json) {
        return decode(json, new ArrayList<>());
    }

    /**
     * Reads an instance as {@link #decode(String)} does, and tells which endpoints it dropped: for tools that
     * report every problem of a record rather than skipping it (see {@link Inspection}).
     *
     * @param json the JSON text
     * @param dropped receives each endpoint dropped for want of a usable scheme, host and port, quoted as
     *     written with user info masked ({@code "grpc://10.0.0.5"}), or the text {@code null} for a null entry
     * @return the instance
     * @throws InvalidInstanceException when the text is not JSON of that shape (field {@code json}) or the
     *     instance breaks a reading rule
     */
    public static ServiceInstance decode(String json, List<String> dropped) {
        if (json == null) {
            throw new InvalidInstanceException("json", "must not be null", "");
        }
        Reader reader = new Reader(json);
        Object value = reader.document();
        if (!(value instanceof Map)) {
            throw new InvalidInstanceException("json", "must be a JSON object", "");
        }
        Map<?, ?> object = (Map<?, ?>) value;
        ServiceInstance.Builder b = ServiceInstance.builder()
                .id(text(object, "id"))
                .name(text(object, "name"))
                .version(text(object, "version"));
        Object metadata = field(object, "metadata");
        if (metadata instanceof Map) {
            b.metadata(strings((Map<?, ?>) metadata, "metadata"));
        } else if (metadata != null) {
            throw new InvalidInstanceException("metadata", "must be an object or null", "");
        }
        Object endpoints = field(object, "endpoints");
        if (endpoints instanceof List) {
            LinkedHashSet<URI> clean = new LinkedHashSet<>();
            for (Object e : (List<?>) endpoints) {
                if (e != null && !(e instanceof String)) {
                    throw new InvalidInstanceException("endpoints", "must hold strings", "");
                }
                Optional<URI> endpoint = Endpoints.lenient((String) e);
                if (endpoint.isPresent()) {
                    clean.add(endpoint.get());
                } else {
                    dropped.add(e == null ? "null" : '"' + RegistryUri.redact((String) e) + '"');
                }
            }
            b.endpoints(clean);
        } else if (endpoints != null) {
            throw new InvalidInstanceException("endpoints", "must be an array or null", "");
        }
        return b.buildLenient();
    }

    /**
     * Reads an instance from a registry record, or logs why the record is skipped: one malformed record must
     * never fail a whole read. Endpoints without a usable scheme, host and port are dropped (as Kratos's
     * {@code ParseEndpoint} skips them) and the rest of the instance is kept. Each bad record or dropped endpoint
     * is logged once ({@link BadRecords}), not on every read, without secrets.
     *
     * @param json the record's value
     * @param source where it was read, for the log, such as the etcd key
     * @return the instance, or empty when the record is malformed
     */
    public static Optional<ServiceInstance> decodeOrSkip(String json, String source) {
        List<String> dropped = new ArrayList<>();
        try {
            ServiceInstance instance = decode(json, dropped);
            if (!dropped.isEmpty()) {
                BadRecords.warnOnce(LOG, source, json, "dropped endpoint(s) without a usable scheme://host:port "
                        + dropped + " of instance " + instance.name() + "/" + instance.id());
            }
            return Optional.of(instance);
        } catch (InvalidInstanceException e) {
            BadRecords.warnOnce(LOG, source, json, "skipped a malformed instance record: "
                    + RegistryUri.redact(e.getMessage()));
            return Optional.empty();
        }
    }

    /**
     * Writes a string map as Go's {@code encoding/json} writes a {@code map[string]string}: compact, keys sorted in
     * code point order (Go sorts map keys), strings escaped as {@link #encode} does. Kratos keeps its Kubernetes pod
     * annotations ({@code kratos-service-metadata}, {@code kratos-service-protocols}) in this form.
     *
     * @param map the map
     * @return such as {@code {"region":"sh","zone":"sh001"}}; {@code {}} when empty
     */
    public static String encodeMap(Map<String, String> map) {
        java.util.TreeMap<String, String> sorted = new java.util.TreeMap<>(
                java.util.Comparator.comparing((String k) -> k.codePoints().toArray(), java.util.Arrays::compare));
        sorted.putAll(map);
        StringBuilder sb = new StringBuilder(16 + map.size() * 24);
        object(sb, sorted);
        return sb.toString();
    }

    /**
     * Reads a JSON object of strings as Go decodes it into a {@code map[string]string}: {@code null} is an empty
     * map and a {@code null} value an empty string.
     *
     * @param json the JSON text
     * @return the entries in the order written
     * @throws InvalidInstanceException (field {@code json}) when the text is not JSON, not an object or
     *     {@code null}, or holds a value that is not a string
     */
    public static Map<String, String> decodeMap(String json) {
        Object value = new Reader(json).document();
        if (value == null) {
            return new LinkedHashMap<>();
        }
        if (!(value instanceof Map)) {
            throw new InvalidInstanceException("json", "must be a JSON object of strings", "");
        }
        return strings((Map<?, ?>) value, "json");
    }

    private static Map<String, String> strings(Map<?, ?> object, String field) {
        Map<String, String> map = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : object.entrySet()) {
            Object v = e.getValue();
            if (v != null && !(v instanceof String)) {
                throw new InvalidInstanceException(field + "[" + e.getKey() + "]", "must be a string", "");
            }
            map.put((String) e.getKey(), v == null ? "" : (String) v); // Go decodes null as ""
        }
        return map;
    }

    private static void object(StringBuilder sb, Map<String, String> entries) {
        sb.append('{');
        boolean first = true;
        for (Map.Entry<String, String> e : entries.entrySet()) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            string(sb, e.getKey());
            sb.append(':');
            string(sb, e.getValue());
        }
        sb.append('}');
    }

    private static Object field(Map<?, ?> object, String name) {
        Object exact = object.get(name);
        if (exact != null) {
            return exact;
        }
        // Go matches field names case-insensitively; the last matching key wins, as in Go.
        Object found = null;
        for (Map.Entry<?, ?> e : object.entrySet()) {
            if (((String) e.getKey()).toLowerCase(Locale.ROOT).equals(name)) {
                found = e.getValue();
            }
        }
        return found;
    }

    private static String text(Map<?, ?> object, String name) {
        Object v = field(object, name);
        if (v != null && !(v instanceof String)) {
            throw new InvalidInstanceException(name, "must be a string", "");
        }
        return v == null ? "" : (String) v;
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    sb.append("\\\"");
                    break;
                case '\\':
                    sb.append("\\\\");
                    break;
                case '\b':
                    sb.append("\\b");
                    break;
                case '\f':
                    sb.append("\\f");
                    break;
                case '\n':
                    sb.append("\\n");
                    break;
                case '\r':
                    sb.append("\\r");
                    break;
                case '\t':
                    sb.append("\\t");
                    break;
                case '<':
                case '>':
                case '&':
                case '\u2028':
                case '\u2029':
                    unicode(sb, c);
                    break;
                default:
                    if (c < 0x20) {
                        unicode(sb, c);
                    } else if (Character.isHighSurrogate(c) && i + 1 < s.length()
                            && Character.isLowSurrogate(s.charAt(i + 1))) {
                        sb.append(c).append(s.charAt(++i));
                    } else if (Character.isSurrogate(c)) {
                        sb.append("\\ufffd"); // Go replaces invalid UTF-8 the same way
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }

    private static void unicode(StringBuilder sb, char c) {
        sb.append("\\u").append(HEX[c >> 12 & 15]).append(HEX[c >> 8 & 15]).append(HEX[c >> 4 & 15])
                .append(HEX[c & 15]);
    }

    /** A small strict JSON reader: objects become maps, arrays lists, numbers BigDecimals. */
    private static final class Reader {
        private final String s;
        private int pos;

        Reader(String s) {
            this.s = s;
        }

        Object document() {
            Object v = value(0);
            skipSpace();
            if (pos != s.length()) {
                throw error("unexpected text after the JSON value");
            }
            return v;
        }

        private Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nested too deeply");
            }
            skipSpace();
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 'n':
                    literal("null");
                    return null;
                case 't':
                    literal("true");
                    return Boolean.TRUE;
                case 'f':
                    literal("false");
                    return Boolean.FALSE;
                default:
                    return number();
            }
        }

        private Map<String, Object> object(int depth) {
            Map<String, Object> map = new LinkedHashMap<>();
            pos++;
            skipSpace();
            if (peek() == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipSpace();
                if (peek() != '"') {
                    throw error("expected a field name");
                }
                String key = string();
                skipSpace();
                expect(':');
                map.put(key, value(depth + 1));
                skipSpace();
                char c = next();
                if (c == '}') {
                    return map;
                }
                if (c != ',') {
                    throw error("expected ',' or '}'");
                }
            }
        }

        private List<Object> array(int depth) {
            List<Object> list = new ArrayList<>();
            pos++;
            skipSpace();
            if (peek() == ']') {
                pos++;
                return list;
            }
            while (true) {
                list.add(value(depth + 1));
                skipSpace();
                char c = next();
                if (c == ']') {
                    return list;
                }
                if (c != ',') {
                    throw error("expected ',' or ']'");
                }
            }
        }

        private String string() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = next();
                if (c == '"') {
                    return sb.toString();
                }
                if (c < 0x20) {
                    throw error("control character in a string");
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = next();
                switch (e) {
                    case '"':
                    case '\\':
                    case '/':
                        sb.append(e);
                        break;
                    case 'b':
                        sb.append('\b');
                        break;
                    case 'f':
                        sb.append('\f');
                        break;
                    case 'n':
                        sb.append('\n');
                        break;
                    case 'r':
                        sb.append('\r');
                        break;
                    case 't':
                        sb.append('\t');
                        break;
                    case 'u':
                        if (pos + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        try {
                            sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        } catch (NumberFormatException ex) {
                            throw error("bad \\u escape");
                        }
                        pos += 4;
                        break;
                    default:
                        throw error("bad escape");
                }
            }
        }

        private java.math.BigDecimal number() {
            int start = pos;
            while (pos < s.length() && "+-0123456789.eE".indexOf(s.charAt(pos)) >= 0) {
                pos++;
            }
            if (start == pos) {
                throw error("unexpected character '" + s.charAt(pos) + "'");
            }
            try {
                return new java.math.BigDecimal(s.substring(start, pos));
            } catch (NumberFormatException ex) {
                throw error("bad number");
            }
        }

        private void literal(String word) {
            if (!s.startsWith(word, pos)) {
                throw error("unexpected character '" + s.charAt(pos) + "'");
            }
            pos += word.length();
        }

        private void skipSpace() {
            while (pos < s.length() && " \t\r\n".indexOf(s.charAt(pos)) >= 0) {
                pos++;
            }
        }

        private char peek() {
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            return s.charAt(pos);
        }

        private char next() {
            char c = peek();
            pos++;
            return c;
        }

        private void expect(char c) {
            if (next() != c) {
                pos--;
                throw error("expected '" + c + "'");
            }
        }

        private InvalidInstanceException error(String what) {
            return new InvalidInstanceException("json", "is malformed: " + what + " at offset " + pos, "");
        }
    }
}
