package io.roster.eureka;

import com.fasterxml.jackson.core.JsonLocation;
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
import java.util.function.Consumer;

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
     * One Eureka instance of an answer, as streamed: what tells whether it changed (a hash of its JSON without the
     * fields that change on every renewal) and where it is in the answer, so that only changed records are parsed.
     *
     * @param app its application
     * @param instanceId its instance id ({@code hostName} when it has none, as Eureka's {@code InstanceInfo} does)
     * @param status its status, such as {@code UP}
     * @param actionType {@code ADDED}, {@code MODIFIED} or {@code DELETED} in a delta; empty when absent
     * @param name its Kratos {@code Name} metadata, or null
     * @param hash of its JSON without {@code leaseInfo}, {@code lastUpdatedTimestamp} and {@code actionType}
     * @param start where its JSON object starts in the answer
     * @param end where its JSON object ends in the answer (exclusive)
     */
    record Scanned(String app, String instanceId, String status, String actionType, String name, long hash,
                   int start, int end) {
        /** Parses this record out of the answer it was scanned from. */
        Entry entry(byte[] body) {
            try {
                return Entry.of(JSON.readTree(body, start, end - start), this);
            } catch (IOException e) {
                throw new UncheckedIOException("eureka answered with something that is not JSON", e);
            }
        }
    }

    /**
     * One Eureka instance as read from the server: the parts the readers need and its JSON. Two entries are equal
     * when the instance did not change: same id, status, group and hash, whatever the renewal timestamps.
     */
    record Entry(String instanceId, String status, String group, long hash, JsonNode json) {
        static Entry of(JsonNode json, Scanned scanned) {
            String id = json.path("metadata").path(ID).asText("");
            // A Kratos/Roster instance is all the Eureka instances carrying its ID; any other is one on its own.
            String group = id.isBlank() ? "eureka:" + scanned.instanceId() : "id:" + id;
            return new Entry(scanned.instanceId(), scanned.status(), group, scanned.hash(), json);
        }

        boolean isUp() {
            return "UP".equals(status);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Entry e && hash == e.hash && instanceId.equals(e.instanceId)
                    && status.equals(e.status) && group.equals(e.group);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(hash);
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
        List<Entry> entries = new ArrayList<>();
        scan(body, s -> entries.add(s.entry(body)));
        List<ServiceInstance> found = new ArrayList<>(decode(service, entries, upOnly, skipped).values());
        found.sort(Comparator.comparing(ServiceInstance::id));
        return found;
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
     * @param name the instance's {@code Name} metadata, or null
     * @return the name, or empty when it is not one {@code getService} accepts
     */
    static Optional<String> serviceName(String app, String name) {
        String found = name;
        // Compared as the server upper-cases application names (Java's toUpperCase: "ß" becomes "SS").
        if (found == null || found.isBlank()
                || !app(found).toUpperCase(Locale.ROOT).equals(app.toUpperCase(Locale.ROOT))) {
            found = app.toLowerCase(Locale.ROOT);
        }
        try {
            return Optional.of(ServiceInstance.requireReadableName(found));
        } catch (InvalidInstanceException e) {
            return Optional.empty();
        }
    }

    /**
     * Streams an answer of {@code GET apps} or {@code GET apps/delta}
     * ({@code {"applications":{"apps__hashcode":…,"application":[{"name":…,"instance":[…]}…]}}}) or of
     * {@code GET apps/<APP>} ({@code {"application":{…}}}) instance by instance, building no tree: a large registry
     * costs one pass over its bytes.
     *
     * @param body the JSON answer
     * @param each receives each instance
     * @return the answer's {@code apps__hashcode}, or null when it has none
     * @throws UncheckedIOException when the body is not such JSON
     */
    static String scan(byte[] body, Consumer<Scanned> each) {
        String hash = null;
        try (JsonParser parser = JSON.getFactory().createParser(body)) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String field = parser.currentName();
                JsonToken token = parser.nextToken();
                if (field.equals("application")) {
                    applications(parser, body, each); // GET apps/<APP>
                } else if (field.equals("applications") && token == JsonToken.START_OBJECT) {
                    while (parser.nextToken() == JsonToken.FIELD_NAME) {
                        String inner = parser.currentName();
                        parser.nextToken();
                        if (inner.equals("apps__hashcode")) {
                            hash = parser.getValueAsString();
                        } else if (inner.equals("application")) {
                            applications(parser, body, each);
                        } else {
                            parser.skipChildren();
                        }
                    }
                } else {
                    parser.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("eureka answered with something that is not JSON", e);
        }
        return hash;
    }

    /** At an application object, or an array of them (a lone one is written as an object). */
    private static void applications(JsonParser parser, byte[] body, Consumer<Scanned> each) throws IOException {
        if (parser.currentToken() == JsonToken.START_ARRAY) {
            while (parser.nextToken() != JsonToken.END_ARRAY) {
                applications(parser, body, each);
            }
            return;
        }
        if (parser.currentToken() != JsonToken.START_OBJECT) {
            parser.skipChildren();
            return;
        }
        String app = "";
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String field = parser.currentName();
            JsonToken token = parser.nextToken();
            if (field.equals("name")) {
                app = parser.getValueAsString("");
            } else if (field.equals("instance") && token == JsonToken.START_ARRAY) {
                while (parser.nextToken() == JsonToken.START_OBJECT) {
                    each.accept(instance(parser, body, app));
                }
            } else if (field.equals("instance") && token == JsonToken.START_OBJECT) {
                each.accept(instance(parser, body, app)); // older servers write a single instance as an object
            } else {
                parser.skipChildren();
            }
        }
    }

    /**
     * At an instance object: reads it to its end, materialising only the few values the poller needs, and hashes
     * the bytes of every field but those renewals change.
     */
    private static Scanned instance(JsonParser parser, byte[] body, String app) throws IOException {
        int start = offset(parser.currentTokenLocation());
        Hash hash = new Hash(body);
        String instanceId = "";
        String hostName = "";
        String status = "";
        String actionType = "";
        String ownApp = "";
        String name = null;
        int open = -1; // where the last hashed field starts; it ends where the next token starts
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            int at = offset(parser.currentTokenLocation());
            if (open >= 0) {
                hash.add(open, at);
                open = -1;
            }
            String field = parser.currentName();
            JsonToken value = parser.nextToken();
            switch (field) {
                case "leaseInfo", "lastUpdatedTimestamp" -> {
                    parser.skipChildren();
                    continue;
                }
                case "actionType" -> {
                    actionType = parser.getValueAsString("");
                    continue;
                }
                case "instanceId" -> instanceId = parser.getValueAsString("");
                case "hostName" -> hostName = parser.getValueAsString("");
                case "status" -> status = parser.getValueAsString("");
                case "app" -> ownApp = parser.getValueAsString("");
                case "metadata" -> name = value == JsonToken.START_OBJECT ? kratosName(parser) : null;
                default -> parser.skipChildren();
            }
            open = at;
        }
        if (open >= 0) {
            hash.add(open, offset(parser.currentTokenLocation()));
        }
        int end = offset(parser.currentLocation());
        return new Scanned(app.isEmpty() ? ownApp : app, instanceId.isEmpty() ? hostName : instanceId, status,
                actionType, name, hash.value, start, end);
    }

    /** At a metadata object: reads it to its end; returns its Kratos {@code Name}, or null. */
    private static String kratosName(JsonParser parser) throws IOException {
        String name = null;
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            boolean wanted = parser.currentName().equals(NAME);
            parser.nextToken();
            if (wanted) {
                name = parser.getValueAsString();
            } else {
                parser.skipChildren();
            }
        }
        return name;
    }

    private static int offset(JsonLocation location) {
        return (int) location.getByteOffset();
    }

    /** FNV-1a, 64 bits, over byte ranges of an answer: the same fields written the same way hash equal. */
    private static final class Hash {
        private final byte[] body;
        private long value = 0xcbf29ce484222325L;

        Hash(byte[] body) {
            this.body = body;
        }

        /** Adds one field, from its name to the next token, without the comma and blanks before that token. */
        void add(int from, int to) {
            int end = to;
            while (end > from && (body[end - 1] == ',' || body[end - 1] <= ' ')) {
                end--;
            }
            for (int i = from; i < end; i++) {
                value = (value ^ (body[i] & 0xff)) * 0x100000001b3L;
            }
            value = (value ^ 0x100) * 0x100000001b3L; // ends the field: no byte has this value
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
