package io.roster.eureka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import io.roster.spi.Failures;
import io.roster.spi.Http;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.Options;
import io.roster.spi.RegistryUri;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reads an {@code eureka://} registry as stored: {@code GET apps} (or {@code apps/<APP>}), every instance of every
 * application, at {@code <APP>/<instanceId>}. Kratos's layout: one Eureka instance per endpoint, metadata
 * {@code ID}, {@code Name}, {@code Version} and {@code Endpoints} (that instance's own endpoint). An instance
 * without those keys (Spring Cloud, Netflix clients) is fine: its endpoints are its address and enabled ports. One
 * with some of them, or with an {@code Endpoints} that is not its own address (Kratos bug #3818), is not.
 *
 * <p>It speaks to the servers with a small client of its own (the JDK's, with the URI's servers, {@code tls},
 * credentials and {@code timeout}), independent of the registry's; the first server that answers is read.
 */
public final class EurekaInspector implements Inspector {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> KRATOS_KEYS = Set.of("ID", "Name", "Version", "Endpoints");
    private static final Set<String> LAYOUT_KEYS = Set.of("ID", "Name", "Version", "Endpoints", "agent", "@class");

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public EurekaInspector() {
    }

    @Override
    public String scheme() {
        return "eureka";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        Options options = uri.options();
        Duration timeout = options.duration("timeout", Duration.ofSeconds(3));
        boolean tls = options.bool("tls", false);
        Optional<String> user = options.string("user").or(uri::user);
        Optional<String> password = options.secret("password").or(uri::password);
        String authorization = user.isPresent() ? "Basic " + Base64.getEncoder().encodeToString(
                (user.get() + ":" + password.orElse("")).getBytes(StandardCharsets.UTF_8)) : null;
        List<URI> servers = servers(uri, tls);
        String path = service == null ? "apps" : "apps/" + Http.pathSegment(app(service));
        HttpClient client = HttpClient.newBuilder().connectTimeout(timeout).build();
        try {
            JsonNode body = null;
            RegistryException failure = null;
            for (URI server : servers) {
                try {
                    body = get(client, server, path, authorization, timeout);
                    failure = null;
                    break;
                } catch (RegistryUnavailableException e) {
                    failure = e; // the next server may answer
                }
            }
            if (failure != null) {
                throw failure;
            }
            Inspection.Builder builder = Inspection.builder("Eureka applications of " + servers.get(0)
                    + (servers.size() > 1 ? " (and " + (servers.size() - 1) + " more)" : "") + " (APP/instanceId)");
            check(builder, body);
            return builder.build();
        } finally {
            Http.shutdown(client);
        }
    }

    /** Checks every instance of {@code GET apps} or {@code GET apps/<APP>}; null when the app is unknown. */
    static void check(Inspection.Builder builder, JsonNode body) {
        if (body == null) {
            return;
        }
        JsonNode apps = body.has("applications") ? body.path("applications").path("application")
                : body.path("application");
        Map<List<String>, String> endpointsSeen = new HashMap<>();
        for (JsonNode app : list(apps)) {
            String appName = app.path("name").asText("");
            for (JsonNode instance : list(app.path("instance"))) {
                checkInstance(builder, appName, instance, endpointsSeen);
            }
        }
    }

    private static void checkInstance(Inspection.Builder builder, String app, JsonNode node,
                                      Map<List<String>, String> endpointsSeen) {
        String location = app + "/" + node.path("instanceId").asText("");
        String raw = node.toString();
        if (!builder.serviceName(location, app)) {
            builder.record(location, app, raw, null);
            return;
        }
        Map<String, String> metadata = new TreeMap<>();
        node.path("metadata").properties().forEach(e -> metadata.put(e.getKey(), e.getValue().isNull() ? ""
                : e.getValue().asText()));
        boolean kratos = metadata.keySet().stream().anyMatch(KRATOS_KEYS::contains);
        ServiceInstance.Builder instance = ServiceInstance.builder();
        String service;
        if (kratos) {
            service = metadata.getOrDefault("Name", "");
            List<String> missing = KRATOS_KEYS.stream().filter(k -> !metadata.containsKey(k)).sorted().toList();
            if (metadata.getOrDefault("ID", "").isBlank() || service.isBlank()) {
                builder.record(location, app, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                        "the record carries Kratos keys but no " + (service.isBlank() ? "Name" : "ID")
                                + (missing.isEmpty() ? "" : " (missing: " + String.join(", ", missing) + ")"));
                return;
            }
            String endpoint = metadata.getOrDefault("Endpoints", "");
            Optional<URI> parsed = Endpoints.lenient(endpoint);
            if (endpoint.isBlank()) {
                builder.problem(location, Inspection.Kind.NO_ENDPOINT, "the record carries Kratos keys but no "
                        + "Endpoints: Kratos readers get no endpoint from it");
            } else if (parsed.isEmpty()) {
                builder.problem(location, Inspection.Kind.BAD_ENDPOINT, "Endpoints \"" + RegistryUri.redact(endpoint)
                        + "\" has no usable scheme://host:port; readers drop it");
            } else if (!ownAddress(parsed.get(), node)) {
                builder.problem(location, Inspection.Kind.BAD_ENDPOINT, "Endpoints " + RegistryUri.redact(endpoint)
                        + " is not this record's address " + node.path("ipAddr").asText("") + ":"
                        + port(node.path("port")) + " (Kratos bug #3818): readers get that endpoint twice and "
                        + "miss this one");
            }
            if (parsed.isPresent()) {
                String first = endpointsSeen.putIfAbsent(List.of(app, metadata.get("ID"), parsed.get().toString()),
                        location);
                if (first != null) {
                    builder.problem(location, Inspection.Kind.DUPLICATE_ID, "endpoint " + RegistryUri.redact(
                            endpoint) + " of instance " + metadata.get("ID") + " is also registered at " + first);
                }
                instance.endpoint(parsed.get());
            }
            Map<String, String> user = new TreeMap<>(metadata);
            LAYOUT_KEYS.forEach(user::remove);
            instance.id(metadata.get("ID")).name(service).version(metadata.getOrDefault("Version", ""))
                    .metadata(user);
            if (!app.equals(app(service))) {
                builder.problem(location, Inspection.Kind.NAME_MISMATCH, "the record names service '" + service
                        + "' but is filed under application " + app);
            }
        } else {
            service = app;
            String ip = node.path("ipAddr").asText("").trim();
            String host = ip.isEmpty() ? node.path("hostName").asText("").trim() : ip;
            List<URI> endpoints = new ArrayList<>();
            if (!host.isEmpty()) {
                enabled(node.path("port")).ifPresent(p -> endpoints.add(Endpoints.of("http", host, p)));
                enabled(node.path("securePort")).ifPresent(p -> endpoints.add(Endpoints.of("https", host, p)));
            }
            if (endpoints.isEmpty()) {
                builder.problem(location, Inspection.Kind.NO_ENDPOINT, "no address with an enabled port: readers "
                        + "get no endpoint from it");
            }
            metadata.remove("@class");
            instance.id(node.path("instanceId").asText("")).name(app).version(metadata.getOrDefault("version", ""))
                    .metadata(metadata).endpoints(endpoints);
        }
        try {
            builder.record(location, service, raw, instance.buildLenient());
        } catch (InvalidInstanceException | IllegalArgumentException e) {
            builder.record(location, service, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                    "the record does not make an instance: " + RegistryUri.redact(e.getMessage()));
        }
    }

    /** The application of a service: upper-cased code point by code point, as Go's {@code strings.ToUpper}. */
    private static String app(String service) {
        StringBuilder sb = new StringBuilder(service.length());
        service.codePoints().map(Character::toUpperCase).forEach(sb::appendCodePoint);
        return sb.toString();
    }

    /** Whether a Kratos record's {@code Endpoints} is its own address (IPv6 brackets aside). */
    private static boolean ownAddress(URI endpoint, JsonNode node) {
        String ip = node.path("ipAddr").asText("");
        return port(node.path("port")) == endpoint.getPort()
                && (ip.isEmpty() || Endpoints.host(endpoint).equalsIgnoreCase(ip));
    }

    private static Optional<Integer> enabled(JsonNode port) {
        int p = port(port);
        return port.path("@enabled").asText("false").equalsIgnoreCase("true") && p > 0 && p <= 65535
                ? Optional.of(p) : Optional.empty();
    }

    private static int port(JsonNode port) {
        return (port.isObject() ? port.path("$") : port).asInt(0);
    }

    /** Eureka writes a list of one as an object. */
    private static List<JsonNode> list(JsonNode node) {
        List<JsonNode> list = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(list::add);
        } else if (node.isObject()) {
            list.add(node);
        }
        return list;
    }

    /**
     * The servers of the URI, as the provider reads them: {@code host[:port][/path]} entries separated by commas,
     * servers without a path sharing the others', {@code /eureka} when none has one.
     */
    static List<URI> servers(RegistryUri uri, boolean tls) {
        if (uri.hosts().isEmpty()) {
            throw new InvalidOptionException("servers", "eureka URI needs at least one server");
        }
        String[] entries = (String.join(",", uri.hosts()) + uri.path()).split(",", -1);
        String shared = "/eureka";
        for (String entry : entries) {
            if (entry.indexOf('/') >= 0) {
                shared = entry.substring(entry.indexOf('/')).trim();
            }
        }
        List<URI> servers = new ArrayList<>();
        for (String entry : entries) {
            int slash = entry.indexOf('/');
            String path = slash < 0 ? shared : entry.substring(slash).trim();
            servers.add(URI.create((tls ? "https://" : "http://") + (slash < 0 ? entry : entry.substring(0, slash))
                    .trim() + (path.equals("/") ? "" : path) + "/"));
        }
        return servers;
    }

    private static JsonNode get(HttpClient client, URI server, String path, String authorization, Duration timeout) {
        HttpRequest.Builder request = HttpRequest.newBuilder(server.resolve(path)).timeout(timeout).GET()
                .header("Accept", "application/json");
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        String action = "inspect: GET " + server.resolve(path);
        HttpResponse<byte[]> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new RegistryUnavailableException(action + " failed: " + Failures.describe(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException(action + " interrupted", e);
        }
        int status = response.statusCode();
        if (status == 404) {
            return null; // no such application
        }
        if (status == 401 || status == 403) {
            throw new RegistryAccessDeniedException(action + " failed: HTTP " + status + " (check the user and "
                    + "password)", null);
        }
        if (status >= 500) {
            throw new RegistryUnavailableException(action + " failed: HTTP " + status, null);
        }
        if (status != 200) {
            throw new RegistryException(action + " failed: HTTP " + status);
        }
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new RegistryException(action + " failed: the answer is not JSON", e);
        }
    }
}
