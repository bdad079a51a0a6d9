package io.roster.consul;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Kratos's Consul layout (kratos-registry.md §5, §13), both ways.
 *
 * <p>Writing: {@code ID}, {@code Name}, {@code Tags=["version=<v>", extra…]}, {@code Port}/{@code Address} of the
 * first endpoint, {@code TaggedAddresses} keyed by scheme holding the full endpoint URL and its port, {@code Meta},
 * and the checks (optional TCP check per endpoint, then the TTL check {@code service:<id>}), in the field order
 * and with the omissions of Go's {@code api.AgentServiceRegistration}. Kratos collapses two endpoints of one
 * scheme (a map keyed by scheme, last wins); we keep both, the second under {@code <scheme>-2}: Kratos reads every
 * tagged address that is not Consul's own, so Go consumers see both too.
 *
 * <p>Reading: as Kratos's {@code defaultResolver}: version from the last {@code version=} tag, endpoints from
 * the tagged addresses except Consul's own {@code lan_*}/{@code wan_*}, else {@code http://Address:Port} (the
 * node's address when the service has none, as Consul itself resolves it). Consul returns a map, so the original
 * endpoint order is lost; we put the endpoint at {@code Address:Port} first (the first one registered), then the
 * others by tagged-address key. Entries are read leniently ({@link ServiceInstance.Builder#buildLenient()}); an
 * unusable one is logged once and skipped.
 */
final class ConsulFormat {
    private static final Logger LOG = LoggerFactory.getLogger(ConsulFormat.class);
    static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> REPORTED = java.util.Collections.newSetFromMap(
            new LinkedHashMap<String, Boolean>(64, 0.75f, true) {
                private static final long serialVersionUID = 1L;

                @Override
                protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                    return size() > 4096;
                }
            });

    /** Consul's {@code structs.ValidateServiceMetadata} limits. */
    static final int MAX_META_PAIRS = 64;
    static final int MAX_META_KEY_LENGTH = 128;
    static final int MAX_META_VALUE_BYTES = 512;
    static final String RESERVED_META_PREFIX = "consul-";
    private static final Pattern META_KEY = Pattern.compile("[A-Za-z0-9_-]+");

    static final String VERSION_TAG = "version=";
    static final String CHECK_PREFIX = "service:";

    private ConsulFormat() {
    }

    /** The id of the TTL check Kratos registers with each instance. */
    static String checkId(ServiceInstance instance) {
        return CHECK_PREFIX + instance.id();
    }

    /**
     * Checks Consul's own rules for service metadata, which the agent would reject with HTTP 400 (Kratos lets
     * such registrations fail at runtime).
     *
     * @throws InvalidInstanceException naming the key and the rule
     */
    static void validate(ServiceInstance instance) {
        Map<String, String> meta = instance.metadata();
        if (meta.size() > MAX_META_PAIRS) {
            throw new InvalidInstanceException("metadata", "must have at most " + MAX_META_PAIRS
                    + " entries on Consul", "(has " + meta.size() + ")");
        }
        for (Map.Entry<String, String> e : meta.entrySet()) {
            String field = "metadata[" + e.getKey() + "]";
            if (!META_KEY.matcher(e.getKey()).matches()) {
                throw new InvalidInstanceException(field, "key must contain only letters, digits, '-' and '_' on"
                        + " Consul", "");
            }
            if (e.getKey().length() > MAX_META_KEY_LENGTH) {
                throw new InvalidInstanceException(field, "key must be at most " + MAX_META_KEY_LENGTH
                        + " characters on Consul", "");
            }
            if (e.getKey().startsWith(RESERVED_META_PREFIX)) {
                throw new InvalidInstanceException(field, "key must not start with '" + RESERVED_META_PREFIX
                        + "' (reserved by Consul)", "");
            }
            int bytes = e.getValue().getBytes(StandardCharsets.UTF_8).length;
            if (bytes > MAX_META_VALUE_BYTES) {
                throw new InvalidInstanceException(field, "value must be at most " + MAX_META_VALUE_BYTES
                        + " bytes (UTF-8) on Consul", "(has " + bytes + ")");
            }
        }
    }

    /**
     * Builds the body of {@code PUT /v1/agent/service/register}.
     *
     * @param instance a valid instance ({@link #validate} passed)
     * @param checks the check settings
     * @return the JSON text
     */
    static String registration(ServiceInstance instance, Checks checks) {
        ObjectNode root = JSON.createObjectNode();
        root.put("ID", instance.id());
        root.put("Name", instance.name());
        ArrayNode tags = root.putArray("Tags");
        tags.add(VERSION_TAG + instance.version());
        checks.tags.forEach(tags::add);
        List<URI> endpoints = instance.endpoints();
        if (!endpoints.isEmpty()) {
            URI first = endpoints.get(0);
            root.put("Port", first.getPort());
            root.put("Address", Endpoints.host(first));
            // Sorted like Go's encoding/json writes a map.
            ObjectNode tagged = root.putObject("TaggedAddresses");
            taggedAddresses(endpoints).forEach((key, endpoint) -> {
                ObjectNode address = tagged.putObject(key);
                address.put("Address", endpoint.toString());
                address.put("Port", endpoint.getPort());
            });
        }
        if (!instance.metadata().isEmpty()) {
            ObjectNode meta = root.putObject("Meta");
            instance.metadata().forEach(meta::put);
        }
        ArrayNode list = root.putArray("Checks");
        if (checks.tcp) {
            for (URI endpoint : endpoints) {
                ObjectNode tcp = list.addObject();
                tcp.put("Interval", goDuration(checks.tcpInterval));
                tcp.put("Timeout", goDuration(checks.tcpTimeout));
                tcp.put("TCP", Endpoints.hostPort(endpoint));
                tcp.put("DeregisterCriticalServiceAfter", goDuration(checks.deregisterAfter));
            }
        }
        ObjectNode ttl = list.addObject();
        ttl.put("CheckID", checkId(instance));
        ttl.put("TTL", goDuration(checks.ttl));
        ttl.put("DeregisterCriticalServiceAfter", goDuration(checks.deregisterAfter));
        return root.toString();
    }

    /** Keys by scheme; a repeated scheme gets the first free {@code <scheme>-<n>}, n = 2, 3, … */
    private static Map<String, URI> taggedAddresses(List<URI> endpoints) {
        Set<String> schemes = new HashSet<>();
        endpoints.forEach(e -> schemes.add(e.getScheme()));
        Map<String, URI> byKey = new TreeMap<>();
        for (URI endpoint : endpoints) {
            String key = endpoint.getScheme();
            for (int n = 2; byKey.containsKey(key); n++) {
                String candidate = endpoint.getScheme() + "-" + n;
                if (!schemes.contains(candidate)) {
                    key = candidate;
                }
            }
            byKey.put(key, endpoint);
        }
        return byKey;
    }

    /** The check settings of a registration. */
    static final class Checks {
        final Duration ttl;
        final Duration deregisterAfter;
        final boolean tcp;
        final Duration tcpInterval;
        final Duration tcpTimeout;
        final List<String> tags;

        Checks(Duration ttl, Duration deregisterAfter, boolean tcp, Duration tcpInterval, List<String> tags) {
            this.ttl = ttl;
            this.deregisterAfter = deregisterAfter;
            this.tcp = tcp;
            this.tcpInterval = tcpInterval;
            // Kratos uses 5 s; never longer than the interval.
            this.tcpTimeout = tcpInterval.compareTo(Duration.ofSeconds(5)) < 0 ? tcpInterval : Duration.ofSeconds(5);
            this.tags = List.copyOf(tags);
        }
    }

    /**
     * Formats a duration as Go's {@code time.ParseDuration} reads it, in whole seconds as Kratos writes them
     * ({@code 600s}) when exact, else in milliseconds.
     */
    static String goDuration(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
    }

    /**
     * Reads the body of {@code GET /v1/health/service/<name>}: an array of {@code {Node, Service, Checks}}.
     *
     * @param body the JSON text
     * @param service the service asked for, for logs
     * @return the instances of the well-formed entries
     * @throws IOException when the body is not a JSON array
     */
    static List<ServiceInstance> instances(byte[] body, String service) throws IOException {
        JsonNode root = JSON.readTree(body);
        if (root == null || !root.isArray()) {
            throw new IOException("consul answered a health query with something other than a JSON array");
        }
        List<ServiceInstance> result = new ArrayList<>(root.size());
        for (JsonNode entry : root) {
            instance(entry, service).ifPresent(result::add);
        }
        return result;
    }

    /**
     * Reads the body of {@code GET /v1/catalog/services}: an object of service name to tags.
     *
     * @param body the JSON text
     * @return the names, without Consul's own {@code consul} service
     * @throws IOException when the body is not a JSON object
     */
    static List<String> serviceNames(byte[] body) throws IOException {
        JsonNode root = JSON.readTree(body);
        if (root == null || !root.isObject()) {
            throw new IOException("consul answered a catalog query with something other than a JSON object");
        }
        List<String> names = new ArrayList<>(root.size());
        root.fieldNames().forEachRemaining(name -> {
            if (!name.equals("consul")) {
                names.add(name);
            }
        });
        return names;
    }

    /**
     * Maps one health entry back to an instance, as Kratos's {@code defaultResolver} does, leniently: whatever
     * Kratos, Spring Cloud Consul or an operator wrote is kept as written (a version with spaces, any Meta key,
     * an endpoint with a path); only an entry without a readable name, an id, or a usable endpoint is skipped.
     *
     * @return the instance, or empty (logged once per entry and reason) when the entry is unusable
     */
    static Optional<ServiceInstance> instance(JsonNode entry, String service) {
        JsonNode svc = field(entry, "Service");
        if (svc == null || !svc.isObject()) {
            skipped(service, "", "it has no Service object");
            return Optional.empty();
        }
        String id = text(svc, "ID");
        try {
            ServiceInstance.Builder b = ServiceInstance.builder()
                    .id(id)
                    .name(text(svc, "Service"))
                    .version(version(svc))
                    .metadata(meta(svc))
                    .endpoints(endpoints(svc, field(entry, "Node")));
            return Optional.of(b.buildLenient());
        } catch (InvalidInstanceException e) {
            skipped(service, id, e.getMessage());
            return Optional.empty();
        }
    }

    /** Logs a skipped entry once (not on every read of the service), remembering the last few thousand. */
    private static void skipped(String service, String id, String why) {
        boolean first;
        synchronized (REPORTED) {
            first = REPORTED.add(service + '\0' + id + '\0' + why);
        }
        if (first) {
            LOG.warn("Skipping unusable Consul entry '{}' of service '{}': {}", id, service, why);
        } else {
            LOG.debug("Consul entry '{}' of service '{}' is still unusable: {}", id, service, why);
        }
    }

    private static String version(JsonNode svc) {
        String version = "";
        JsonNode tags = field(svc, "Tags");
        if (tags != null && tags.isArray()) {
            for (JsonNode tag : tags) {
                String t = tag.asText("");
                if (t.startsWith(VERSION_TAG)) {
                    version = t.substring(VERSION_TAG.length()); // the last one wins, as in Kratos
                }
            }
        }
        return version;
    }

    private static Map<String, String> meta(JsonNode svc) {
        Map<String, String> meta = new LinkedHashMap<>();
        JsonNode node = field(svc, "Meta");
        if (node != null && node.isObject()) {
            node.properties().forEach(e -> meta.put(e.getKey(), e.getValue().isNull() ? ""
                    : e.getValue().asText()));
        }
        return meta;
    }

    private static List<URI> endpoints(JsonNode svc, JsonNode node) {
        String address = text(svc, "Address");
        int port = field(svc, "Port") == null ? 0 : field(svc, "Port").asInt(0);
        LinkedHashSet<URI> endpoints = new LinkedHashSet<>();
        JsonNode tagged = field(svc, "TaggedAddresses");
        if (tagged != null && tagged.isObject()) {
            TreeMap<String, JsonNode> sorted = new TreeMap<>();
            tagged.properties().forEach(e -> sorted.put(e.getKey(), e.getValue()));
            List<URI> rest = new ArrayList<>();
            for (Map.Entry<String, JsonNode> e : sorted.entrySet()) {
                String key = e.getKey().toLowerCase(Locale.ROOT);
                if (key.startsWith("lan_") || key.startsWith("wan_")) {
                    continue; // Consul's own lan_ipv4, wan_ipv4, lan_ipv6, wan_ipv6
                }
                Optional<URI> endpoint = Endpoints.lenient(text(e.getValue(), "Address"));
                if (endpoint.isEmpty()) {
                    continue; // a plain address someone else tagged, not a Kratos endpoint
                }
                URI uri = endpoint.get();
                if (uri.getPort() == port && Endpoints.host(uri).equalsIgnoreCase(address)) {
                    endpoints.add(uri); // the first endpoint registered
                } else {
                    rest.add(uri);
                }
            }
            endpoints.addAll(rest);
        }
        if (endpoints.isEmpty() && port > 0) {
            String host = address.isEmpty() && node != null ? text(node, "Address") : address;
            if (!host.isEmpty()) {
                try {
                    endpoints.add(Endpoints.of("http", host, port)); // a service registered without Kratos
                } catch (IllegalArgumentException e) {
                    // no usable address: an instance without endpoints
                }
            }
        }
        return new ArrayList<>(endpoints);
    }

    /** Go's decoder matches field names case-insensitively; so does this. */
    static JsonNode field(JsonNode object, String name) {
        if (object == null || !object.isObject()) {
            return null;
        }
        JsonNode exact = object.get(name);
        if (exact != null) {
            return exact;
        }
        for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (key.equalsIgnoreCase(name)) {
                return object.get(key);
            }
        }
        return null;
    }

    static String text(JsonNode object, String name) {
        JsonNode v = field(object, name);
        return v == null || v.isNull() ? "" : v.asText();
    }
}
