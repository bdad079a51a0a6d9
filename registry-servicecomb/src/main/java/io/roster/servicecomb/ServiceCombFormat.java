package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.spi.BadRecords;
import io.roster.spi.Endpoints;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Kratos's ServiceComb layout (kratos-registry.md §11, §13), both ways, and service-center's validation rules
 * (server/service/validator), checked before any request.
 *
 * <p>Writing. The microservice {@code {serviceName, appId, version, environment, framework}} as Kratos creates it;
 * the instance {@code {instanceId, serviceId, endpoints (as written), hostName (= id, as Kratos), status UP,
 * properties, healthCheck {mode: push, interval, times}}}. Kratos's properties {@code appId} and {@code environment}
 * are kept, so Go consumers are unaffected, and our metadata goes beside them (Kratos drops it). Service-center
 * versions are {@code x[.y[.z[.w]]]} with numbers 0–32767 and the server overwrites an instance's version with its
 * microservice's: a version such as {@code v1.2.0} or {@code 2.3.4-rc.1} is registered under its numeric core
 * ({@code 1.2.0}, {@code 2.3.4}), and the exact version is kept in the property {@code roster.version} (written
 * only when it differs), so that it reads back unchanged. A version with no such core is refused.
 *
 * <p>Reading, leniently: id = {@code instanceId}, version = {@code roster.version} or else the instance's
 * version (its microservice's), metadata = properties without {@code appId}, {@code environment} and
 * {@code roster.version}, endpoints kept as written when they have a scheme, host and port. Instances whose status
 * is not {@code UP} are not live (service-center keeps them listed); a record with no usable endpoint or id is
 * skipped and logged once.
 */
final class ServiceCombFormat {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceCombFormat.class);
    static final ObjectMapper JSON = new ObjectMapper();

    /** Kratos's instance properties. */
    static final String APP_PROPERTY = "appId";
    static final String ENVIRONMENT_PROPERTY = "environment";
    /** The exact Roster version, when service-center cannot hold it as is. */
    static final String VERSION_PROPERTY = "roster.version";
    static final Set<String> RESERVED_PROPERTIES = Set.of(APP_PROPERTY, ENVIRONMENT_PROPERTY, VERSION_PROPERTY);

    static final String FRAMEWORK = "roster";
    static final String FRAMEWORK_VERSION = "1";
    static final String STATUS_UP = "UP";

    /** Service-center's {@code nameRegex} for serviceName and appId. */
    static final Pattern NAME = Pattern.compile("^[a-zA-Z0-9]*$|^[a-zA-Z0-9][a-zA-Z0-9_\\-.]*[a-zA-Z0-9]$");
    /** Service-center's {@code serviceNameForFindRegex}: what a find request may ask for. */
    static final Pattern FIND_NAME = Pattern.compile("^[a-zA-Z0-9]*$|^[a-zA-Z0-9][a-zA-Z0-9_\\-.:]*[a-zA-Z0-9]$");
    /** Service-center's instance id rule ({@code simpleNameAllowEmptyRegex}, at most 64). */
    static final Pattern INSTANCE_ID = Pattern.compile("^[A-Za-z0-9_.-]+$");
    static final int MAX_NAME = 128;
    static final int MAX_APP = 160;
    static final int MAX_INSTANCE_ID = 64;
    /** A version service-center accepts as is: {@code x[.y[.z[.w]]]}, each 0–32767. */
    private static final Pattern SERVER_VERSION = Pattern.compile("\\d+(\\.\\d+){0,3}");
    /** A version with a numeric core we can register under: an optional 'v', the core, an optional suffix. */
    private static final Pattern CORE_VERSION = Pattern.compile("[vV]?(\\d+(?:\\.\\d+){0,3})(?:[-+_~].*)?");
    static final String VERSION_RULE = "must be x[.y[.z[.w]]] with numbers 0-32767 for service-center, optionally "
            + "with a leading 'v' and a suffix after '-', '+', '_' or '~' (kept in property '" + VERSION_PROPERTY
            + "')";
    /** Service-center's {@code envRegex}. */
    static final Set<String> ENVIRONMENTS = Set.of("", "development", "testing", "acceptance", "production");

    private ServiceCombFormat() {
    }

    /** The identity of one microservice: what service-center keys it by. */
    static final class ServiceKey {
        final String environment;
        final String app;
        final String name;
        final String version;

        ServiceKey(String environment, String app, String name, String version) {
            this.environment = environment;
            this.app = app;
            this.name = name;
            this.version = version;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof ServiceKey)) {
                return false;
            }
            ServiceKey k = (ServiceKey) o;
            return environment.equals(k.environment) && app.equals(k.app) && name.equals(k.name)
                    && version.equals(k.version);
        }

        @Override
        public int hashCode() {
            return ((environment.hashCode() * 31 + app.hashCode()) * 31 + name.hashCode()) * 31 + version.hashCode();
        }

        @Override
        public String toString() {
            return environment + "/" + app + "/" + name + "/" + version;
        }
    }

    /**
     * Checks what service-center would refuse (HTTP 400, error 400001) and our own reserved properties, before any
     * request.
     *
     * @throws InvalidInstanceException naming the field and the rule
     */
    static void validate(ServiceInstance instance) {
        String name = instance.name();
        if (name.length() > MAX_NAME || !NAME.matcher(name).matches()) {
            throw new InvalidInstanceException("name", "must be at most " + MAX_NAME + " letters, digits, '_', '-' "
                    + "and '.', starting and ending with a letter or digit, for service-center", "'" + name + "'");
        }
        String id = instance.id();
        if (id.length() > MAX_INSTANCE_ID || !INSTANCE_ID.matcher(id).matches()) {
            throw new InvalidInstanceException("id", "must be at most " + MAX_INSTANCE_ID
                    + " letters, digits, '_', '.' and '-' for service-center", "'" + id + "'");
        }
        serverVersion(instance.version());
        for (String key : instance.metadata().keySet()) {
            if (RESERVED_PROPERTIES.contains(key)) {
                throw new InvalidInstanceException("metadata", "must not use the key '" + key + "', which the "
                        + "instance properties reserve (Kratos's appId and environment, and roster.version)", "");
            }
        }
    }

    /**
     * The version service-center holds for a Roster version.
     *
     * @throws InvalidInstanceException when the version has no numeric core service-center accepts
     */
    static String serverVersion(String version) {
        if (version.isEmpty()) {
            return "0.0.0";
        }
        String core = null;
        if (SERVER_VERSION.matcher(version).matches()) {
            core = version;
        } else {
            Matcher m = CORE_VERSION.matcher(version);
            if (m.matches()) {
                core = m.group(1);
            }
        }
        if (core == null || !numbersFit(core)) {
            throw new InvalidInstanceException("version", VERSION_RULE, "'" + version + "'");
        }
        return core;
    }

    private static boolean numbersFit(String core) {
        for (String part : core.split("\\.")) {
            if (part.length() > 5 || Integer.parseInt(part) > Short.MAX_VALUE) {
                return false;
            }
        }
        return true;
    }

    static ServiceKey key(ServiceInstance instance, String app, String environment) {
        return new ServiceKey(environment, app, instance.name(), serverVersion(instance.version()));
    }

    /** The body of {@code POST /v4/{project}/registry/microservices}. */
    static String microservice(ServiceKey key) {
        ObjectNode service = JSON.createObjectNode();
        service.put("serviceName", key.name);
        service.put("appId", key.app);
        service.put("version", key.version);
        service.put("environment", key.environment);
        ObjectNode framework = service.putObject("framework");
        framework.put("name", FRAMEWORK);
        framework.put("version", FRAMEWORK_VERSION);
        service.put("registerBy", "SDK");
        ObjectNode body = JSON.createObjectNode();
        body.set("service", service);
        return body.toString();
    }

    /** The instance's properties: Kratos's appId and environment, our metadata, and the exact version if needed. */
    static Map<String, String> properties(ServiceInstance instance, String app, String environment) {
        Map<String, String> properties = new TreeMap<>(instance.metadata());
        properties.put(APP_PROPERTY, app);
        properties.put(ENVIRONMENT_PROPERTY, environment);
        if (!serverVersion(instance.version()).equals(instance.version())) {
            properties.put(VERSION_PROPERTY, instance.version());
        }
        return properties;
    }

    /** The body of {@code POST /v4/{project}/registry/microservices/{serviceId}/instances}. */
    static String instance(ServiceInstance instance, String serviceId, String app, String environment,
                           long intervalSeconds, int times) {
        ObjectNode node = JSON.createObjectNode();
        node.put("instanceId", instance.id());
        node.put("serviceId", serviceId);
        ArrayNode endpoints = node.putArray("endpoints");
        for (URI endpoint : instance.endpoints()) {
            endpoints.add(endpoint.toString());
        }
        node.put("hostName", instance.id());
        node.put("status", STATUS_UP);
        node.set("properties", JSON.valueToTree(properties(instance, app, environment)));
        ObjectNode health = node.putObject("healthCheck");
        health.put("mode", "push");
        health.put("interval", intervalSeconds);
        health.put("times", times);
        node.put("version", serverVersion(instance.version()));
        ObjectNode body = JSON.createObjectNode();
        body.set("instance", node);
        return body.toString();
    }

    /** The body of {@code PUT .../instances/{instanceId}/properties}. */
    static String propertiesBody(ServiceInstance instance, String app, String environment) {
        ObjectNode body = JSON.createObjectNode();
        body.set("properties", JSON.valueToTree(properties(instance, app, environment)));
        return body.toString();
    }

    /**
     * Reads the live instances of an answer holding {@code "instances": [...]} (find, list), leniently.
     *
     * @param service the service name asked for (instances do not carry it)
     * @param source where the answer came from, for the log
     */
    static List<ServiceInstance> instances(JsonNode answer, String service, String source) {
        Map<String, ServiceInstance> found = new LinkedHashMap<>();
        JsonNode list = answer == null ? null : answer.get("instances");
        if (list == null || !list.isArray()) {
            return List.of();
        }
        for (JsonNode node : list) {
            read(node, service, source).ifPresent(i -> found.putIfAbsent(i.id(), i));
        }
        return List.copyOf(found.values());
    }

    /**
     * Reads one instance record, leniently: empty when it is not live ({@code status} other than UP) or not
     * usable (no id, no endpoint with a scheme, host and port), the latter logged once.
     */
    static Optional<ServiceInstance> read(JsonNode node, String service, String source) {
        String id = text(node, "instanceId");
        String where = source + " instance " + (id.isEmpty() ? "(no instanceId)" : id);
        if (!node.isObject()) {
            BadRecords.warnOnce(LOG, source, node, "skipped: not a JSON object");
            return Optional.empty();
        }
        String status = text(node, "status");
        if (!status.isEmpty() && !STATUS_UP.equalsIgnoreCase(status)) {
            return Optional.empty();
        }
        ServiceInstance instance;
        try {
            instance = decode(node, service, dropped -> BadRecords.warnOnce(LOG, where, node, dropped));
        } catch (RuntimeException e) {
            BadRecords.warnOnce(LOG, where, node, "skipped: " + e.getMessage());
            return Optional.empty();
        }
        if (instance.endpoints().isEmpty()) {
            BadRecords.warnOnce(LOG, where, node, "skipped: no usable endpoint");
            return Optional.empty();
        }
        return Optional.of(instance);
    }

    /**
     * Decodes one instance record as it is, live or not: id = {@code instanceId}, version = {@code roster.version}
     * or else the instance's, metadata = the other properties, the endpoints that have a scheme, host and port.
     *
     * @param dropped told about each endpoint left out
     * @throws InvalidInstanceException when it makes no instance (no id)
     */
    static ServiceInstance decode(JsonNode node, String service, Consumer<String> dropped) {
        ServiceInstance.Builder b = ServiceInstance.builder().name(service).id(text(node, "instanceId"));
        Map<String, String> metadata = new TreeMap<>();
        String version = text(node, "version");
        JsonNode properties = node.get("properties");
        if (properties != null && properties.isObject()) {
            properties.properties().forEach(e -> {
                if (!RESERVED_PROPERTIES.contains(e.getKey()) && e.getValue().isValueNode()
                        && !e.getValue().isNull()) {
                    metadata.put(e.getKey(), e.getValue().asText());
                }
            });
            JsonNode exact = properties.get(VERSION_PROPERTY);
            if (exact != null && exact.isTextual()) {
                version = exact.asText();
            }
        }
        b.version(version).metadata(metadata);
        JsonNode endpoints = node.get("endpoints");
        if (endpoints != null && endpoints.isArray()) {
            for (JsonNode e : endpoints) {
                Optional<URI> uri = Endpoints.lenient(e.asText(null));
                if (uri.isPresent()) {
                    b.endpoint(uri.get());
                } else {
                    dropped.accept("endpoint '" + e.asText() + "' has no usable scheme, host and port; dropped");
                }
            }
        }
        return b.buildLenient();
    }

    static String text(JsonNode node, String field) {
        JsonNode v = node == null ? null : node.get(field);
        return v == null || v.isNull() || !v.isValueNode() ? "" : v.asText();
    }
}
