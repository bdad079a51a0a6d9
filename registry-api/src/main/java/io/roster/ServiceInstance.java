package io.roster;

import io.roster.spi.Endpoints;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * One running copy of a service, as registered and discovered: an id, a service name, a version, string
 * metadata and the endpoints it serves, such as {@code grpc://10.0.0.5:9000} and {@code http://10.0.0.5:8000}
 * (TLS as {@code grpcs}/{@code https}).
 *
 * <p>Immutable and validated when built: an instance that exists is one every backend can store, so a bad name
 * or endpoint fails here with an {@link InvalidInstanceException} and never reaches a registry. The fields and
 * their JSON form are those of Go Kratos's {@code registry.ServiceInstance}.
 *
 * <pre>{@code
 * ServiceInstance instance = ServiceInstance.builder()
 *         .name("greeter")
 *         .version("v1.2.0")
 *         .metadata("zone", "eu-west-1a")
 *         .endpoint("grpc://10.0.0.5:9000")
 *         .build();
 * }</pre>
 */
public final class ServiceInstance {
    /** Longest service name: a DNS name, so that every backend (and Kubernetes) can carry it. */
    public static final int MAX_NAME_LENGTH = 253;
    /** Longest instance id. */
    public static final int MAX_ID_LENGTH = 255;
    /** Longest version string. */
    public static final int MAX_VERSION_LENGTH = 128;

    private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");
    /** Go's encoding/json sorts map keys by their UTF-8 bytes, which is code point order, not UTF-16 order. */
    static final Comparator<String> CODE_POINT_ORDER = ServiceInstance::compareCodePoints;

    private final String id;
    private final String name;
    private final String version;
    private final SortedMap<String, String> metadata;
    private final List<URI> endpoints;
    /** Built by {@link Builder#buildLenient()}: read from a registry, not fit to be written back unchecked. */
    private final boolean lenient;

    private ServiceInstance(Builder b, boolean strict) {
        this.lenient = !strict;
        if (strict) {
            this.name = requireValidName(b.name);
            this.id = b.id == null ? UUID.randomUUID().toString() : checkId(b.id);
            this.version = checkVersion(b.version == null ? "" : b.version);
            this.metadata = Collections.unmodifiableSortedMap(checkMetadata(b.metadata));
            this.endpoints = List.copyOf(checkEndpoints(b.endpoints));
        } else {
            this.name = requireReadableName(b.name);
            if (b.id == null || b.id.isBlank()) {
                throw new InvalidInstanceException("id", "must not be blank", "");
            }
            this.id = b.id;
            this.version = b.version == null ? "" : b.version;
            this.metadata = Collections.unmodifiableSortedMap(readMetadata(b.metadata));
            this.endpoints = List.copyOf(readEndpoints(b.endpoints));
        }
    }

    /**
     * Starts a new instance.
     *
     * @return an empty builder; {@link Builder#name(String)} is required, the id defaults to a random UUID
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Starts a builder holding this instance's fields, to derive a changed copy (same id, new metadata, ...).
     *
     * @return a builder initialised from this instance
     */
    public Builder toBuilder() {
        Builder b = new Builder().id(id).name(name).version(version).metadata(metadata);
        endpoints.forEach(b::endpoint);
        return b;
    }

    /**
     * Returns the id, unique within the service.
     *
     * @return the instance id
     */
    public String id() {
        return id;
    }

    /**
     * Returns the service name.
     *
     * @return the name this instance is discovered under
     */
    public String name() {
        return name;
    }

    /**
     * Returns the version, possibly empty.
     *
     * @return the version string
     */
    public String version() {
        return version;
    }

    /**
     * Returns the metadata, sorted by key.
     *
     * @return an unmodifiable map, empty when none was set
     */
    public SortedMap<String, String> metadata() {
        return metadata;
    }

    /**
     * Returns the endpoints in the order they were given.
     *
     * @return an unmodifiable list, possibly empty
     */
    public List<URI> endpoints() {
        return endpoints;
    }

    /**
     * Returns the first endpoint with the given scheme, as Kratos's {@code ParseEndpoint} does.
     *
     * @param scheme a scheme such as {@code grpc}, {@code grpcs}, {@code http} or {@code https}; {@code null}
     *     matches none
     * @return the endpoint, or empty when the instance serves no such scheme
     */
    public Optional<URI> endpoint(String scheme) {
        for (URI endpoint : endpoints) {
            if (endpoint.getScheme().equals(scheme)) {
                return Optional.of(endpoint);
            }
        }
        return Optional.empty();
    }

    /**
     * Checks a service name by the rules {@link #builder()} applies, for APIs that take a bare name.
     *
     * @param name the service name
     * @return the same name
     * @throws InvalidInstanceException when the name breaks a rule
     */
    public static String requireValidName(String name) {
        if (name == null || name.isBlank()) {
            throw new InvalidInstanceException("name", "must not be blank", "");
        }
        if (name.length() > MAX_NAME_LENGTH) {
            throw invalid("name", "must be at most " + MAX_NAME_LENGTH + " characters", name);
        }
        if (!Character.isLetterOrDigit(name.codePointAt(0))) {
            throw invalid("name", "must start with a letter or digit", name);
        }
        checkCharacters("name", name, true);
        if (name.indexOf('/') >= 0) {
            throw invalid("name", "must not contain '/'", name);
        }
        if (name.contains("@@")) {
            // Nacos uses "group@@service" for grouped names.
            throw invalid("name", "must not contain '@@'", name);
        }
        return name;
    }

    /**
     * Checks a service name by the rules for reading: the name of a service registered by another client (Go
     * Kratos, Spring, an operator) that {@link #requireValidName} would refuse to write, such as
     * {@code _private.svc}, can still be looked up.
     *
     * @param name the service name
     * @return the same name
     * @throws InvalidInstanceException when the name is blank, or contains {@code /}, {@code @@} or control
     *     characters
     */
    public static String requireReadableName(String name) {
        if (name == null || name.isBlank()) {
            throw new InvalidInstanceException("name", "must not be blank", "");
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                throw invalid("name", "must not contain control characters", name);
            }
        }
        if (name.indexOf('/') >= 0) {
            throw invalid("name", "must not contain '/'", name);
        }
        if (name.contains("@@")) {
            throw invalid("name", "must not contain '@@'", name); // Nacos's group separator: ambiguous
        }
        return name;
    }

    /**
     * Checks that an instance obeys every rule for writing. Instances from {@link Builder#build()} always do;
     * instances read from a registry ({@link Builder#buildLenient()}) may not, and registering one checks it
     * here first.
     *
     * @param instance the instance
     * @return the same instance
     * @throws InvalidInstanceException naming the first field that breaks a rule, or {@code instance} when null
     */
    public static ServiceInstance requireWritable(ServiceInstance instance) {
        if (instance == null) {
            throw new InvalidInstanceException("instance", "must not be null", "");
        }
        if (instance.lenient) {
            new ServiceInstance(instance.toBuilder(), true);
        }
        return instance;
    }

    private static String checkId(String id) {
        if (id.isBlank()) {
            throw new InvalidInstanceException("id", "must not be blank", "");
        }
        if (id.length() > MAX_ID_LENGTH) {
            throw invalid("id", "must be at most " + MAX_ID_LENGTH + " characters", id);
        }
        checkCharacters("id", id, false);
        if (id.indexOf('/') >= 0) {
            throw invalid("id", "must not contain '/'", id);
        }
        return id;
    }

    private static String checkVersion(String version) {
        if (version.length() > MAX_VERSION_LENGTH) {
            throw invalid("version", "must be at most " + MAX_VERSION_LENGTH + " characters", version);
        }
        checkCharacters("version", version, true);
        return version;
    }

    private static void checkCharacters(String field, String value, boolean noWhitespace) {
        for (int i = 0; i < value.length(); ) {
            int cp = value.codePointAt(i);
            if (Character.isISOControl(cp)) {
                throw invalid(field, "must not contain control characters", value);
            }
            if (noWhitespace && (Character.isWhitespace(cp) || Character.isSpaceChar(cp))) {
                throw invalid(field, "must not contain whitespace", value);
            }
            i += Character.charCount(cp);
        }
    }

    private static TreeMap<String, String> checkMetadata(Map<String, String> source) {
        TreeMap<String, String> sorted = new TreeMap<>(CODE_POINT_ORDER);
        for (Map.Entry<String, String> e : source.entrySet()) {
            if (e.getKey() == null) {
                throw new InvalidInstanceException("metadata", "keys must not be null", "");
            }
            if (e.getKey().isEmpty()) {
                throw new InvalidInstanceException("metadata", "keys must not be empty", "");
            }
            if (e.getValue() == null) {
                throw new InvalidInstanceException("metadata[" + e.getKey() + "]", "must not be null", "");
            }
            sorted.put(e.getKey(), e.getValue());
        }
        return sorted;
    }

    private static TreeMap<String, String> readMetadata(Map<String, String> source) {
        TreeMap<String, String> sorted = new TreeMap<>(CODE_POINT_ORDER);
        source.forEach((k, v) -> {
            if (k != null) {
                sorted.put(k, v == null ? "" : v); // Go's decoder turns a JSON null into ""
            }
        });
        return sorted;
    }

    private static List<URI> readEndpoints(List<Object> raw) {
        LinkedHashSet<URI> result = new LinkedHashSet<>();
        for (int i = 0; i < raw.size(); i++) {
            String field = "endpoints[" + i + "]";
            Object value = raw.get(i);
            if (value == null) {
                throw new InvalidInstanceException(field, "must not be null", "");
            }
            // As Endpoints.lenient reads it: kept as written, only the scheme lower-cased (as Go's URL parser does).
            String text = value.toString();
            URI uri = Endpoints.lenient(text).orElseThrow(() -> invalid(field,
                    "must be a URI with a scheme, a host and a port 1-65535", RegistryUri.redact(text)));
            result.add(uri); // a repeat is dropped, as reading a list that names one endpoint twice
        }
        return new ArrayList<>(result);
    }

    private static List<URI> checkEndpoints(List<Object> raw) {
        List<URI> result = new ArrayList<>(raw.size());
        Set<URI> seen = new HashSet<>();
        for (int i = 0; i < raw.size(); i++) {
            String field = "endpoints[" + i + "]";
            URI endpoint = checkEndpoint(field, raw.get(i));
            if (!seen.add(endpoint)) {
                throw invalid(field, "must not repeat an endpoint", RegistryUri.redact(endpoint.toString()));
            }
            result.add(endpoint);
        }
        return result;
    }

    private static URI checkEndpoint(String field, Object value) {
        if (value == null) {
            throw new InvalidInstanceException(field, "must not be null", "");
        }
        URI uri;
        if (value instanceof URI) {
            uri = (URI) value;
        } else {
            try {
                uri = new URI((String) value);
            } catch (URISyntaxException e) {
                throw invalid(field, "must be a URI of the form scheme://host:port (" + e.getReason() + ")",
                        RegistryUri.redact((String) value));
            }
        }
        String text = RegistryUri.redact(uri.toString()); // shown in messages: never a password
        if (uri.getScheme() == null || uri.isOpaque()) {
            throw invalid(field, "must have the form scheme://host:port", text);
        }
        if (!SCHEME.matcher(uri.getScheme()).matches()) {
            throw invalid(field, "must have a lower-case scheme such as grpc or http", text);
        }
        if (uri.getRawUserInfo() != null) {
            throw invalid(field, "must not contain user info", text);
        }
        if (uri.getHost() == null) {
            throw invalid(field, "must have a valid host (IPv6 addresses go in brackets: grpc://[::1]:9000)", text);
        }
        if (uri.getPort() < 1 || uri.getPort() > 65535) {
            throw invalid(field, "must have a port between 1 and 65535", text);
        }
        if (uri.getRawPath() != null && !uri.getRawPath().isEmpty()) {
            throw invalid(field, "must not have a path", text);
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw invalid(field, "must not have a query or fragment", text);
        }
        return uri;
    }

    private static InvalidInstanceException invalid(String field, String rule, String value) {
        String shown = value.length() > 300 ? value.substring(0, 300) + "..." : value;
        StringBuilder quoted = new StringBuilder("(was \"");
        shown.codePoints().forEach(cp -> {
            if (Character.isISOControl(cp)) {
                quoted.append(String.format("\\u%04x", cp));
            } else {
                quoted.appendCodePoint(cp);
            }
        });
        return new InvalidInstanceException(field, rule, quoted.append("\")").toString());
    }

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    /**
     * Two instances are equal when id, name, version, metadata and endpoints (in order) are equal.
     */
    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof ServiceInstance)) {
            return false;
        }
        ServiceInstance that = (ServiceInstance) o;
        return id.equals(that.id) && name.equals(that.name) && version.equals(that.version)
                && metadata.equals(that.metadata) && endpoints.equals(that.endpoints);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, name, version, metadata, endpoints);
    }

    /**
     * Describes the instance for logs. An endpoint read from a registry with user info or a secret query parameter
     * shows them masked ({@code grpc://***@host:9000}).
     */
    @Override
    public String toString() {
        StringBuilder shown = new StringBuilder("[");
        for (URI endpoint : endpoints) {
            shown.append(shown.length() > 1 ? ", " : "").append(RegistryUri.redact(endpoint.toString()));
        }
        return "ServiceInstance{name=" + name + ", id=" + id + ", version=" + version + ", endpoints="
                + shown.append(']') + ", metadata=" + metadata + '}';
    }

    /**
     * Builds a {@link ServiceInstance}. Not thread-safe. {@link #build()} validates every field and can be called
     * again after changes.
     */
    public static final class Builder {
        private String id;
        private String name;
        private String version;
        private final Map<String, String> metadata = new java.util.LinkedHashMap<>();
        private final List<Object> endpoints = new ArrayList<>();

        private Builder() {
        }

        /**
         * Sets the id; unset, each {@link #build()} picks a random UUID.
         *
         * @param id non-blank, no '/', at most 255 characters
         * @return this builder
         * @throws InvalidInstanceException when {@code id} is null
         */
        public Builder id(String id) {
            if (id == null) {
                // Not taken for "unset": a null where an id was meant must not silently become a random one.
                throw new InvalidInstanceException("id", "must not be null (leave it unset for a random UUID)", "");
            }
            this.id = id;
            return this;
        }

        /**
         * Sets the service name (required).
         *
         * @param name starts with a letter or digit; no whitespace, '/', '@@' or control characters; at most 253
         *     characters
         * @return this builder
         */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /**
         * Sets the version; empty when unset.
         *
         * @param version no whitespace, at most 128 characters
         * @return this builder
         */
        public Builder version(String version) {
            this.version = version;
            return this;
        }

        /**
         * Adds (or replaces) one metadata entry.
         *
         * @param key a non-empty key
         * @param value a non-null value
         * @return this builder
         */
        public Builder metadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        /**
         * Replaces all metadata with a copy of the given map.
         *
         * @param metadata non-empty keys, non-null values
         * @return this builder
         * @throws InvalidInstanceException when {@code metadata} is null
         */
        public Builder metadata(Map<String, String> metadata) {
            if (metadata == null) {
                throw new InvalidInstanceException("metadata", "must not be null (use an empty map for none)", "");
            }
            this.metadata.clear();
            // Copied entry by entry so that a null key or value is reported by build(), not by a map copy.
            metadata.forEach(this.metadata::put);
            return this;
        }

        /**
         * Adds an endpoint given as text.
         *
         * @param endpoint {@code scheme://host:port}, IPv6 hosts in brackets
         * @return this builder
         */
        public Builder endpoint(String endpoint) {
            endpoints.add(endpoint);
            return this;
        }

        /**
         * Adds an endpoint.
         *
         * @param endpoint {@code scheme://host:port}, IPv6 hosts in brackets
         * @return this builder
         */
        public Builder endpoint(URI endpoint) {
            endpoints.add(endpoint);
            return this;
        }

        /**
         * Replaces all endpoints.
         *
         * @param endpoints the endpoints, in order
         * @return this builder
         * @throws InvalidInstanceException when {@code endpoints} is null
         */
        public Builder endpoints(Collection<URI> endpoints) {
            if (endpoints == null) {
                throw new InvalidInstanceException("endpoints", "must not be null (use an empty list for none)", "");
            }
            this.endpoints.clear();
            this.endpoints.addAll(endpoints);
            return this;
        }

        /**
         * Validates the fields and builds the instance.
         *
         * @return the immutable instance
         * @throws InvalidInstanceException naming the first field that breaks a rule
         */
        public ServiceInstance build() {
            return new ServiceInstance(this, true);
        }

        /**
         * Builds an instance read from a registry, written there by any client (Go Kratos, Spring, an operator),
         * applying only the rules for reading: the name passes {@link #requireReadableName}, the id is not
         * blank, and every endpoint has a scheme, a host and a port; everything else is kept as written (a
         * version with spaces, an empty metadata key, an endpoint with a path or query). For backends and tools;
         * registering such an instance checks it by the rules of {@link #build()} first.
         *
         * @return the immutable instance
         * @throws InvalidInstanceException naming the first field that breaks a reading rule
         */
        public ServiceInstance buildLenient() {
            return new ServiceInstance(this, false);
        }
    }
}
