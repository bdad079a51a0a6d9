package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;

import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Reads a {@code servicecomb://} registry as stored, through the registry's own client: every microservice of the
 * registry's app and environment (or of one name), and every instance of each, live or not, at
 * {@code <serviceId>/<instanceId>}.
 *
 * <p>Kratos's layout: endpoints {@code grpc://host:port} or {@code http://host:port} (Go clients dial nothing else,
 * so Java-chassis's {@code rest://} and {@code highway://} are invisible to them), status {@code UP}, properties
 * {@code appId} and {@code environment}; Roster adds its metadata and, for a version service-center cannot hold,
 * {@code roster.version}, whose numeric core must be the instance's version. Besides what every layout shares, it
 * names: an endpoint that is not Kratos-style, a status other than UP, a {@code roster.version} the instance's
 * version does not match, a Roster instance whose properties were rewritten without its keys, and one instance id in
 * two microservices (versions) of one name.
 */
public final class ServiceCombInspector implements Inspector {
    /** What Go Kratos clients dial ({@code endpoint.ParseEndpoint} with these schemes). */
    private static final Set<String> KRATOS_SCHEMES = Set.of("grpc", "grpcs", "http", "https");

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public ServiceCombInspector() {
    }

    @Override
    public String scheme() {
        return "servicecomb";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        if (!(registry instanceof ServiceCombRegistry)) {
            return Inspection.generic(registry, service, "not a ServiceCombRegistry", (done, total) -> { });
        }
        ServiceCombRegistry sc = (ServiceCombRegistry) registry;
        ServiceCombConfig config = sc.config();
        List<JsonNode> microservices = new ArrayList<>();
        for (JsonNode ms : sc.rawMicroservices().path("services")) {
            if (text(ms, "appId").equals(config.app) && text(ms, "environment").equals(config.environment)
                    && (service == null || text(ms, "serviceName").equals(service))) {
                microservices.add(ms);
            }
        }
        microservices.sort(Comparator.comparing((JsonNode ms) -> text(ms, "serviceName"))
                .thenComparing(ms -> text(ms, "version")));
        Inspection.Builder builder = Inspection.builder("service-center microservices of app " + config.app
                + (config.environment.isEmpty() ? "" : ", environment " + config.environment)
                + " (serviceId/instanceId)");
        for (JsonNode ms : microservices) {
            for (JsonNode instance : sc.rawInstances(text(ms, "serviceId")).path("instances")) {
                check(builder, ms, instance);
            }
        }
        return builder.build();
    }

    /**
     * Checks one instance of a microservice.
     *
     * @param ms the microservice, as {@code GET .../microservices} lists it
     * @param node the instance, as {@code GET .../microservices/{serviceId}/instances} lists it
     */
    static void check(Inspection.Builder builder, JsonNode ms, JsonNode node) {
        String name = text(ms, "serviceName");
        String instanceId = text(node, "instanceId");
        String location = text(ms, "serviceId") + "/" + (instanceId.isEmpty() ? "(no instanceId)" : instanceId);
        String raw = node.toString();
        if (!builder.serviceName(location, name)) {
            builder.record(location, name, raw, null);
            return;
        }
        if (!node.isObject()) {
            builder.record(location, name, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "the instance is not a JSON object");
            return;
        }
        String status = text(node, "status");
        if (!status.isEmpty() && !ServiceCombFormat.STATUS_UP.equalsIgnoreCase(status)) {
            builder.problem(location, Inspection.Kind.UNHEALTHY, "status " + status + ": readers list UP instances "
                    + "only");
        }
        ServiceInstance instance;
        try {
            instance = ServiceCombFormat.decode(node, name, dropped -> builder.problem(location,
                    Inspection.Kind.BAD_ENDPOINT, RegistryUri.redact(dropped.replace("; dropped",
                            "; readers drop it"))));
        } catch (InvalidInstanceException e) {
            builder.record(location, name, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "the instance does not make an instance: " + RegistryUri.redact(e.getMessage()));
            return;
        }
        for (URI endpoint : instance.endpoints()) {
            if (!KRATOS_SCHEMES.contains(endpoint.getScheme())) {
                builder.problem(location, Inspection.Kind.BAD_ENDPOINT, "endpoint "
                        + RegistryUri.redact(endpoint.toString()) + " is not a Kratos endpoint "
                        + "(grpc|grpcs|http|https://host:port): Go Kratos clients do not dial it");
            }
        }
        version(builder, location, ms, node);
        builder.instance(location, name, raw, instance);
    }

    /**
     * The exact version in {@code roster.version} must have the instance's version as its numeric core (the one
     * service-center holds); a Roster instance (its microservice's framework) always carries Kratos's properties
     * beside it, so without them its properties were rewritten, and a {@code roster.version} may be lost with them.
     */
    private static void version(Inspection.Builder builder, String location, JsonNode ms, JsonNode node) {
        String held = text(node, "version").isEmpty() ? text(ms, "version") : text(node, "version");
        JsonNode properties = node.path("properties");
        JsonNode exact = properties.get(ServiceCombFormat.VERSION_PROPERTY);
        if (exact != null && exact.isTextual()) {
            String core;
            try {
                core = ServiceCombFormat.serverVersion(exact.asText());
            } catch (InvalidInstanceException e) {
                builder.problem(location, Inspection.Kind.VERSION_MISMATCH, ServiceCombFormat.VERSION_PROPERTY + " '"
                        + exact.asText() + "' has no numeric core service-center could hold, so no Roster registry "
                        + "wrote it; readers show it as the version");
                return;
            }
            if (!core.equals(held)) {
                builder.problem(location, Inspection.Kind.VERSION_MISMATCH, ServiceCombFormat.VERSION_PROPERTY + " '"
                        + exact.asText() + "' (numeric " + core + ") but the instance is version " + held + ": one "
                        + "changed without the other; readers show '" + exact.asText() + "'");
            }
        } else if (ServiceCombFormat.FRAMEWORK.equals(text(ms.path("framework"), "name"))
                && !(properties.has(ServiceCombFormat.APP_PROPERTY)
                && properties.has(ServiceCombFormat.ENVIRONMENT_PROPERTY))) {
            builder.problem(location, Inspection.Kind.VERSION_MISMATCH, "the properties lack "
                    + ServiceCombFormat.APP_PROPERTY + "/" + ServiceCombFormat.ENVIRONMENT_PROPERTY + ", which Roster "
                    + "writes with every instance of its microservices: another client replaced them, and a "
                    + ServiceCombFormat.VERSION_PROPERTY + " with them, so readers may show " + held
                    + " rather than the version registered");
        }
    }

    private static String text(JsonNode node, String field) {
        return ServiceCombFormat.text(node, field);
    }
}
