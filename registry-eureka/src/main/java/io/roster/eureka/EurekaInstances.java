package io.roster.eureka;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
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
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
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
 * {@code strings.ToUpper} does), {@code instanceId = <host>:<APP>:<port>}, {@code app = vipAddress = APP},
 * {@code hostName} and {@code ipAddr} the endpoint's host (Kratos writes the app name into {@code hostName}, which
 * Spring Cloud consumers then dial), status {@code UP}, the endpoint's port enabled, secure port 443 disabled,
 * home/status/health URLs under the endpoint, data centre {@code MyOwn}, and metadata = the user's metadata plus
 * {@code ID}, {@code Name}, {@code Version}, {@code Endpoints} (this instance's own endpoint: Kratos bug #3818 gave
 * every instance the last one) and {@code agent}. Roster adds {@code leaseInfo}, so that the server evicts a dead
 * instance after the configured lease rather than its 90 s default.
 *
 * <p>Reading, leniently (whatever Kratos or Spring wrote is kept as written): instances carrying {@code ID} are
 * regrouped by it into one {@link ServiceInstance} with all their endpoints and the user's metadata only; others
 * (Spring Cloud, Netflix clients) become one instance each with endpoint {@code http://<ipAddr>:<port>} and, when
 * the secure port is enabled, {@code https://<ipAddr>:<securePort>}. A record without a usable endpoint is
 * skipped and reported.
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
        // The address, as Spring Cloud and Netflix clients dial hostName (Kratos writes the app name there, and
        // reads only the metadata, so Go services are not affected).
        json.put("hostName", endpoint.getHost());
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
     * One Eureka instance as read from the server: the parts the readers need, and its JSON without the fields
     * that change on every renewal, so that a record read again unchanged compares equal.
     */
    record Entry(String instanceId, String status, String group, JsonNode json) {
        /** Fields that change without the instance changing: lease timestamps, the server's change bookkeeping. */
        private static final List<String> VOLATILE = List.of("leaseInfo", "actionType", "lastUpdatedTimestamp");

        /** Takes the node over (it is changed): nodes come fresh from parsing an answer. */
        static Entry of(JsonNode node) {
            JsonNode json = node;
            if (json instanceof ObjectNode) {
                ((ObjectNode) json).remove(VOLATILE);
            }
            String instanceId = json.path("instanceId").asText("");
            if (instanceId.isEmpty()) {
                instanceId = json.path("hostName").asText(""); // what Eureka's InstanceInfo.getId() falls back to
            }
            String id = json.path("metadata").path(ID).asText("");
            // A Kratos/Roster instance is all the Eureka instances carrying its ID; any other is one on its own.
            String group = id.isBlank() ? "eureka:" + instanceId : "id:" + id;
            return new Entry(instanceId, json.path("status").asText(""), group, json);
        }

        boolean isUp() {
            return "UP".equals(status);
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
        List<ServiceInstance> found = new ArrayList<>(decode(service, entries(body), upOnly, skipped).values());
        found.sort(Comparator.comparing(ServiceInstance::id));
        return found;
    }

    /**
     * Reads the records of a {@code GET apps/<APP>} answer.
     *
     * @throws UncheckedIOException when the body is not JSON
     */
    static List<Entry> entries(byte[] body) {
        List<Entry> entries = new ArrayList<>();
        instances(tree(body).path("application")).forEach(n -> entries.add(Entry.of(n)));
        return entries;
    }

    /**
     * Decodes the records of one application into instances, keyed by {@link Entry#group()}.
     *
     * @param service the name of every instance read
     * @param entries the records
     * @param upOnly whether records whose status is not {@code UP} are left out
     * @param skipped told about each record that cannot be read
     * @return the instances by group
     */
    static Map<String, ServiceInstance> decode(String service, Collection<Entry> entries, boolean upOnly,
                                               BiConsumer<String, String> skipped) {
        Map<String, List<Entry>> groups = new LinkedHashMap<>();
        for (Entry entry : entries) {
            groups.computeIfAbsent(entry.group(), k -> new ArrayList<>()).add(entry);
        }
        Map<String, ServiceInstance> found = new LinkedHashMap<>();
        groups.forEach((group, members) -> decodeGroup(service, members, upOnly, skipped)
                .ifPresent(instance -> found.put(group, instance)));
        return found;
    }

    /**
     * Decodes one group of records (all of one Kratos/Roster instance, or one foreign record).
     *
     * @return the instance, or empty when no record of it is listed (not UP) or usable
     */
    static Optional<ServiceInstance> decodeGroup(String service, Collection<Entry> members, boolean upOnly,
                                                 BiConsumer<String, String> skipped) {
        List<Entry> listed = new ArrayList<>(members.size());
        for (Entry entry : members) {
            if (!upOnly || entry.isUp()) {
                listed.add(entry);
            }
        }
        if (listed.isEmpty()) {
            return Optional.empty();
        }
        try {
            return listed.get(0).group().startsWith("id:") ? regroup(service, listed, skipped)
                    : foreign(service, listed.get(0), skipped);
        } catch (InvalidInstanceException | IllegalArgumentException e) {
            skipped.accept(listed.get(0).instanceId(), e.getMessage());
            return Optional.empty();
        }
    }

    /** One Roster/Kratos instance from its per-endpoint Eureka instances, kept as Kratos wrote it. */
    private static Optional<ServiceInstance> regroup(String service, List<Entry> group,
                                                     BiConsumer<String, String> skipped) {
        // During an update the records may briefly differ: trust the most recently written one.
        JsonNode newest = group.get(0).json();
        for (Entry entry : group) {
            if (dirtyTimestamp(entry.json()) > dirtyTimestamp(newest)) {
                newest = entry.json();
            }
        }
        // Eureka keeps no order among an application's instances, so endpoints come back sorted: a stable
        // order, so that refreshes compare equal.
        TreeSet<String> endpoints = new TreeSet<>();
        for (Entry entry : group) {
            String text = entry.json().path("metadata").path(ENDPOINTS).asText(null);
            Optional<URI> endpoint = Endpoints.lenient(text);
            if (endpoint.isPresent()) {
                endpoints.add(endpoint.get().toString());
            } else {
                skipped.accept(entry.instanceId(), "metadata " + ENDPOINTS + " has no usable scheme, host and port");
            }
        }
        if (endpoints.isEmpty()) {
            return Optional.empty(); // each record was reported
        }
        Map<String, String> metadata = metadata(newest.path("metadata"));
        RESERVED.forEach(metadata::remove);
        ServiceInstance.Builder b = ServiceInstance.builder()
                .id(newest.path("metadata").path(ID).asText())
                .name(service)
                .version(newest.path("metadata").path(VERSION).asText(""))
                .metadata(metadata);
        endpoints.forEach(b::endpoint);
        return Optional.of(b.buildLenient());
    }

    /** An instance registered by a Spring Cloud or Netflix client: endpoints from the address and ports. */
    private static Optional<ServiceInstance> foreign(String service, Entry entry,
                                                     BiConsumer<String, String> skipped) {
        JsonNode node = entry.json();
        String ip = node.path("ipAddr").asText("").trim();
        String host = ip.isEmpty() ? node.path("hostName").asText("").trim() : ip;
        Optional<Integer> port = enabledPort(node.path("port"));
        Optional<Integer> securePort = enabledPort(node.path("securePort"));
        if (host.isEmpty() || port.isEmpty() && securePort.isEmpty()) {
            skipped.accept(entry.instanceId(), "no address with an enabled port 1-65535");
            return Optional.empty();
        }
        String id = entry.instanceId().isBlank()
                ? host + ":" + node.path("app").asText("") + ":" + portOf(node.path("port")) : entry.instanceId();
        Map<String, String> metadata = metadata(node.path("metadata"));
        metadata.remove("@class");
        ServiceInstance.Builder b = ServiceInstance.builder()
                .id(id)
                .name(service)
                .version(metadata.getOrDefault("version", ""))
                .metadata(metadata);
        port.ifPresent(p -> b.endpoint(Endpoints.of("http", host, p)));
        securePort.ifPresent(p -> b.endpoint(Endpoints.of("https", host, p)));
        return Optional.of(b.buildLenient());
    }

    /**
     * Returns the service name under which Roster discovers an instance of an application: the Kratos
     * {@code Name} metadata when it maps back to the application, else the application name lower-cased (Spring
     * registers {@code spring.application.name} upper-cased).
     *
     * @param app the Eureka application
     * @param instance the instance's JSON
     * @return the name, or empty when it is not one {@code getService} accepts
     */
    static Optional<String> serviceName(String app, JsonNode instance) {
        String name = instance.path("metadata").path(NAME).asText("");
        if (name.isBlank() || !app(name).equals(app)) {
            name = app.toLowerCase(Locale.ROOT);
        }
        try {
            return Optional.of(ServiceInstance.requireReadableName(name));
        } catch (InvalidInstanceException e) {
            return Optional.empty();
        }
    }

    /**
     * Streams an {@code {"applications":{"apps__hashcode":…,"application":[…]}}} answer ({@code GET apps} or
     * {@code GET apps/delta}) one application at a time, so that a large registry is never held as one tree.
     *
     * @param body the JSON answer
     * @param instance receives each instance with its application's name
     * @return the answer's {@code apps__hashcode}, or null when it has none
     * @throws UncheckedIOException when the body is not such JSON
     */
    static String applications(byte[] body, BiConsumer<String, JsonNode> instance) {
        String hash = null;
        try (JsonParser parser = JSON.getFactory().createParser(body)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String field = parser.currentName();
                parser.nextToken();
                if (!field.equals("applications") || parser.currentToken() != JsonToken.START_OBJECT) {
                    parser.skipChildren();
                    continue;
                }
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    String inner = parser.currentName();
                    JsonToken token = parser.nextToken();
                    if (inner.equals("apps__hashcode")) {
                        hash = parser.getValueAsString();
                    } else if (inner.equals("application") && token == JsonToken.START_ARRAY) {
                        while (parser.nextToken() == JsonToken.START_OBJECT) {
                            application(parser.readValueAsTree(), instance);
                        }
                    } else if (inner.equals("application") && token == JsonToken.START_OBJECT) {
                        application(parser.readValueAsTree(), instance); // a single application, as XML-era servers
                    } else {
                        parser.skipChildren();
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("eureka answered with something that is not JSON", e);
        }
        return hash;
    }

    private static void application(JsonNode application, BiConsumer<String, JsonNode> instance) {
        String app = application.path("name").asText("");
        for (JsonNode node : instances(application)) {
            instance.accept(app.isEmpty() ? node.path("app").asText("") : app, node);
        }
    }

    private static List<JsonNode> instances(JsonNode application) {
        JsonNode instances = application.path("instance");
        List<JsonNode> nodes = new ArrayList<>();
        if (instances.isArray()) {
            instances.forEach(nodes::add);
        } else if (instances.isObject()) {
            nodes.add(instances); // older servers write a single instance as an object
        }
        return nodes;
    }

    private static JsonNode tree(byte[] body) {
        try {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw new UncheckedIOException("eureka answered with something that is not JSON", e);
        }
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
