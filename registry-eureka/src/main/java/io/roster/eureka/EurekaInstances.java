package io.roster.eureka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BiConsumer;

/**
 * Kratos's Eureka layout, both ways.
 *
 * <p>Writing: one Eureka instance per endpoint, in application {@code <NAME>} (the service name upper-cased as Go's
 * {@code strings.ToUpper} does), {@code instanceId = <host>:<APP>:<port>}, {@code hostName = app = vipAddress =
 * APP}, status {@code UP}, the endpoint's port enabled, secure port 443 disabled, home/status/health URLs under the
 * endpoint, data centre {@code MyOwn}, and metadata = the user's metadata plus {@code ID}, {@code Name},
 * {@code Version}, {@code Endpoints} (this instance's own endpoint: Kratos bug #3818 gave every instance the last
 * one) and {@code agent}. Roster adds {@code leaseInfo}, so that the server evicts a dead instance after the
 * configured lease rather than its 90 s default.
 *
 * <p>Reading: instances carrying {@code ID} are regrouped by it into one {@link ServiceInstance} with all their
 * endpoints and the user's metadata only; others (Spring Cloud, Netflix clients) become one instance each with
 * endpoint {@code http://<ipAddr>:<port>} and, when the secure port is enabled, {@code https://<ipAddr>:<securePort>}.
 */
final class EurekaInstances {
    static final String ID = "ID";
    static final String NAME = "Name";
    static final String VERSION = "Version";
    static final String ENDPOINTS = "Endpoints";
    static final String AGENT = "agent";
    static final String AGENT_VALUE = "roster-eureka";
    /** Keys of the Kratos layout, and the marker Eureka's codec puts into an empty metadata map. */
    static final Set<String> RESERVED = Set.of(ID, NAME, VERSION, ENDPOINTS, AGENT, "@class");

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DATA_CENTER_CLASS = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";

    /** One Eureka instance to register: where it goes and the JSON body. */
    record Record(String app, String instanceId, String json) {
    }

    private EurekaInstances() {
    }

    /**
     * Returns the Eureka application of a service: upper-cased code point by code point, as Go's
     * {@code strings.ToUpper} does ({@code ß} stays {@code ß}, where Java's {@code toUpperCase} makes it {@code SS}).
     */
    static String app(String service) {
        StringBuilder sb = new StringBuilder(service.length());
        service.codePoints().map(Character::toUpperCase).forEach(sb::appendCodePoint);
        return sb.toString();
    }

    /**
     * Checks the rules the Eureka layout adds to the core ones.
     *
     * @throws InvalidInstanceException naming the field and the rule
     */
    static void validate(ServiceInstance instance) {
        if (instance.endpoints().isEmpty()) {
            throw new InvalidInstanceException("endpoints", "must not be empty on eureka: each endpoint is one "
                    + "Eureka instance", "");
        }
        for (String key : instance.metadata().keySet()) {
            if (RESERVED.contains(key)) {
                throw new InvalidInstanceException("metadata[" + key + "]", "is reserved on eureka (Kratos's "
                        + "layout keys " + new TreeSet<>(RESERVED) + ")", "");
            }
        }
        for (char c : new char[] {';', '%', '\\'}) {
            if (instance.name().indexOf(c) >= 0) {
                throw new InvalidInstanceException("name", "must not contain '" + c + "' on eureka (it is part "
                        + "of every request path, and servers behind Spring Security reject it there)",
                        "'" + instance.name() + "'");
            }
        }
    }

    /**
     * Builds the Eureka instances of a Roster instance, one per endpoint, in endpoint order.
     *
     * @param instance a valid instance
     * @param renewSeconds the renewal interval announced in {@code leaseInfo}
     * @param leaseSeconds the lease duration after which the server evicts an instance that stopped renewing
     */
    static List<Record> records(ServiceInstance instance, int renewSeconds, int leaseSeconds) {
        String app = app(instance.name());
        List<Record> records = new ArrayList<>(instance.endpoints().size());
        for (URI endpoint : instance.endpoints()) {
            String instanceId = instanceId(app, endpoint);
            ObjectNode root = JSON.createObjectNode();
            root.set("instance", instanceJson(instance, app, instanceId, endpoint, renewSeconds, leaseSeconds));
            try {
                records.add(new Record(app, instanceId, JSON.writeValueAsString(root)));
            } catch (IOException e) {
                throw new UncheckedIOException(e); // a tree of strings and numbers always serialises
            }
        }
        return records;
    }

    /** Kratos's instance id; the host keeps IPv6 brackets as in the endpoint, as Kratos's does. */
    static String instanceId(String app, URI endpoint) {
        return endpoint.getHost() + ":" + app + ":" + endpoint.getPort();
    }

    private static ObjectNode instanceJson(ServiceInstance instance, String app, String instanceId, URI endpoint,
                                           int renewSeconds, int leaseSeconds) {
        Map<String, String> user = instance.metadata();
        String base = endpoint.toString();
        // Fields in the order of Kratos's Go struct, so that the bytes match what a Go service sends.
        ObjectNode json = JSON.createObjectNode();
        json.put("instanceId", instanceId);
        json.put("hostName", app);
        port(json.putObject("port"), endpoint.getPort(), true);
        json.put("app", app);
        json.put("ipAddr", Endpoints.host(endpoint));
        json.put("vipAddress", app);
        json.put("status", "UP");
        port(json.putObject("securePort"), securePort(user.get("securePort")), false);
        json.put("homePageUrl", user.getOrDefault("homePageURL", base + "/"));
        json.put("statusPageUrl", user.getOrDefault("statusPageURL", base + "/info"));
        json.put("healthCheckUrl", user.getOrDefault("healthCheckURL", base + "/health"));
        ObjectNode dataCenter = json.putObject("dataCenterInfo");
        dataCenter.put("name", "MyOwn");
        dataCenter.put("@class", DATA_CENTER_CLASS);
        // A fresh map per endpoint: sharing one across endpoints is Kratos bug #3818.
        SortedMap<String, String> metadata = new TreeMap<>(instance.metadata()); // keeps the code point order
        metadata.put(ID, instance.id());
        metadata.put(NAME, instance.name());
        metadata.put(VERSION, instance.version());
        metadata.put(ENDPOINTS, base);
        metadata.put(AGENT, AGENT_VALUE);
        ObjectNode md = json.putObject("metadata");
        metadata.forEach(md::put);
        ObjectNode lease = json.putObject("leaseInfo");
        lease.put("renewalIntervalInSecs", renewSeconds);
        lease.put("durationInSecs", leaseSeconds);
        return json;
    }

    private static void port(ObjectNode node, int port, boolean enabled) {
        node.put("$", port);
        node.put("@enabled", Boolean.toString(enabled));
    }

    /** Kratos reads metadata {@code securePort} with {@code strconv.Atoi}, ignoring errors (then 0). */
    private static int securePort(String value) {
        if (value == null) {
            return 443;
        }
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /**
     * Reads the instances of a service from Eureka's {@code GET apps/<APP>} answer.
     *
     * @param service the service asked for; the name of every instance read
     * @param body the JSON answer, {@code {"application":{"name":…,"instance":[…]}}}
     * @param upOnly whether to keep only instances whose status is {@code UP}
     * @param skipped told about each record that cannot be read (its instance id and why), which is then skipped
     * @return the instances, sorted by id
     * @throws UncheckedIOException when the body is not JSON
     */
    static List<ServiceInstance> read(String service, byte[] body, boolean upOnly,
                                      BiConsumer<String, String> skipped) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (IOException e) {
            throw new UncheckedIOException("eureka answered with something that is not JSON", e);
        }
        JsonNode instances = root.path("application").path("instance");
        List<JsonNode> nodes = new ArrayList<>();
        if (instances.isArray()) {
            instances.forEach(nodes::add);
        } else if (instances.isObject()) {
            nodes.add(instances); // older servers write a single instance as an object
        }
        Map<String, List<JsonNode>> byId = new LinkedHashMap<>();
        List<ServiceInstance> found = new ArrayList<>();
        for (JsonNode node : nodes) {
            if (upOnly && !"UP".equals(node.path("status").asText())) {
                continue;
            }
            String id = node.path("metadata").path(ID).asText("");
            if (!id.isEmpty()) {
                byId.computeIfAbsent(id, k -> new ArrayList<>()).add(node);
                continue;
            }
            try {
                found.add(foreign(service, node));
            } catch (InvalidInstanceException | IllegalArgumentException e) {
                skipped.accept(node.path("instanceId").asText("?"), e.getMessage());
            }
        }
        byId.forEach((id, group) -> {
            try {
                found.add(regroup(service, id, group));
            } catch (InvalidInstanceException | IllegalArgumentException e) {
                skipped.accept(group.get(0).path("instanceId").asText("?"), e.getMessage());
            }
        });
        found.sort(Comparator.comparing(ServiceInstance::id));
        return found;
    }

    /** One Roster/Kratos instance from its per-endpoint Eureka instances. */
    private static ServiceInstance regroup(String service, String id, List<JsonNode> group) {
        // During an update the records may briefly differ: trust the most recently written one.
        JsonNode newest = group.get(0);
        for (JsonNode node : group) {
            if (dirtyTimestamp(node) > dirtyTimestamp(newest)) {
                newest = node;
            }
        }
        // Eureka keeps no order among an application's instances, so endpoints come back sorted: a stable
        // order, so that refreshes compare equal.
        TreeSet<String> endpoints = new TreeSet<>();
        for (JsonNode node : group) {
            Endpoints.lenient(node.path("metadata").path(ENDPOINTS).asText(null))
                    .ifPresent(e -> endpoints.add(e.toString()));
        }
        Map<String, String> metadata = metadata(newest.path("metadata"));
        RESERVED.forEach(metadata::remove);
        ServiceInstance.Builder b = ServiceInstance.builder()
                .id(id)
                .name(service)
                .version(newest.path("metadata").path(VERSION).asText(""))
                .metadata(metadata);
        endpoints.forEach(b::endpoint);
        return b.build();
    }

    /** An instance registered by a Spring Cloud or Netflix client: endpoints from the address and ports. */
    private static ServiceInstance foreign(String service, JsonNode node) {
        String ip = node.path("ipAddr").asText("").trim();
        String host = ip.isEmpty() ? node.path("hostName").asText("").trim() : ip;
        String id = node.path("instanceId").asText("");
        if (id.isEmpty()) {
            id = host + ":" + node.path("app").asText("") + ":" + portOf(node.path("port"));
        }
        Map<String, String> metadata = metadata(node.path("metadata"));
        metadata.remove("@class");
        ServiceInstance.Builder b = ServiceInstance.builder()
                .id(id)
                .name(service)
                .version(metadata.getOrDefault("version", ""))
                .metadata(metadata);
        if (!host.isEmpty()) {
            enabledPort(node.path("port")).ifPresent(p -> b.endpoint(Endpoints.of("http", host, p)));
            enabledPort(node.path("securePort")).ifPresent(p -> b.endpoint(Endpoints.of("https", host, p)));
        }
        return b.build();
    }

    private static Optional<Integer> enabledPort(JsonNode port) {
        // "@enabled" is the string "true" in Eureka's JSON; accept a boolean too.
        boolean enabled = port.path("@enabled").asText("false").equalsIgnoreCase("true");
        int p = portOf(port);
        return enabled && p > 0 && p <= 65535 ? Optional.of(p) : Optional.empty();
    }

    private static int portOf(JsonNode port) {
        JsonNode value = port.isObject() ? port.path("$") : port;
        return value.asInt(0); // a number, or a string such as "8080"
    }

    private static long dirtyTimestamp(JsonNode node) {
        return node.path("lastDirtyTimestamp").asLong(0); // a string in Eureka's JSON; asLong parses it
    }

    private static Map<String, String> metadata(JsonNode node) {
        Map<String, String> map = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            map.put(e.getKey(), e.getValue().isNull() ? "" : e.getValue().asText());
        }
        return map;
    }
}
