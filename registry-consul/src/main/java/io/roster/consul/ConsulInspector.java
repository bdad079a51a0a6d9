package io.roster.consul;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.roster.InvalidInstanceException;
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
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Reads a {@code consul://} registry's catalog as stored: every service of {@code /v1/catalog/services} (or the
 * one asked for), and each of its entries in {@code /v1/health/service/<name>}, passing or not, at
 * {@code <node>/<service>/<id>}. Kratos's layout: the version in a {@code version=} tag, endpoints as tagged
 * addresses keyed by scheme holding the full URL (else {@code http://Address:Port}), a TTL check per instance.
 *
 * <p>It speaks to the agent with a small client of its own (the JDK's, with the URI's {@code token}, {@code dc},
 * {@code tls}, {@code caFile}, {@code certFile}/{@code keyFile} and {@code timeout}), independent of the
 * registry's, with the registry's TLS setup ({@link ConsulTls}).
 */
public final class ConsulInspector implements Inspector {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public ConsulInspector() {
    }

    @Override
    public String scheme() {
        return "consul";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("timeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        Options options = uri.options();
        Optional<String> token = options.secret("token");
        Optional<Path> caFile = options.string("caFile").map(Path::of);
        Optional<Path> certFile = options.string("certFile").map(Path::of);
        boolean tls = options.bool("tls", false) || caFile.isPresent() || certFile.isPresent();
        String host = uri.hosts().isEmpty() ? "127.0.0.1" : uri.hosts().get(0);
        URI agent = Http.baseUri("consul", host, tls, 8500, 8501);
        Duration timeout = options.duration("timeout", DEFAULT_TIMEOUT);
        String dc = options.string("dc").map(d -> "dc=" + URLEncoder.encode(d, StandardCharsets.UTF_8)).orElse("");
        HttpClient.Builder http = HttpClient.newBuilder().connectTimeout(timeout);
        if (caFile.isPresent() || certFile.isPresent()) {
            // The registry's own TLS setup: the CA bundle, and the client certificate for mutual TLS.
            http.sslContext(ConsulTls.context(caFile.orElse(null), certFile.orElse(null),
                    options.string("keyFile").map(Path::of).orElse(null)));
        }
        HttpClient client = http.build();
        try {
            Reader reader = path -> get(client, agent, path, token.orElse(null), timeout);
            return read(reader, agent, service, dc);
        } finally {
            Http.shutdown(client);
        }
    }

    /** One GET of the agent's API: the body, or null for a 404. */
    @FunctionalInterface
    interface Reader {
        JsonNode get(String pathAndQuery);
    }

    /** Reads the catalog through {@code reader} and checks it; for tests, with a reader of their own. */
    static Inspection read(Reader reader, URI agent, String service, String dcQuery) {
        String dc = dcQuery.isEmpty() ? "" : "?" + dcQuery;
        List<String> names = new ArrayList<>();
        if (service != null) {
            names.add(service);
        } else {
            JsonNode catalog = reader.get("/v1/catalog/services" + dc);
            if (catalog != null) {
                catalog.fieldNames().forEachRemaining(names::add);
            }
        }
        Inspection.Builder builder = Inspection.builder("Consul catalog of " + agent + " (node/service/id)");
        for (String name : new TreeSet<>(names)) {
            JsonNode entries = reader.get("/v1/health/service/" + Http.pathSegment(name) + dc);
            check(builder, name, entries);
        }
        return builder.build();
    }

    /**
     * Checks the entries of one service, as {@code GET /v1/health/service/<name>} returns them.
     *
     * @param entries an array of {@code {Node, Service, Checks}}, or null when the agent has none
     */
    static void check(Inspection.Builder builder, String name, JsonNode entries) {
        if (entries == null || !entries.isArray()) {
            return;
        }
        for (JsonNode entry : entries) {
            JsonNode node = field(entry, "Node");
            JsonNode svc = field(entry, "Service");
            String nodeName = text(node, "Node");
            String id = text(svc, "ID");
            String location = nodeName + "/" + name + "/" + id;
            String raw = entry.toString();
            if (!builder.serviceName(location, name)) {
                builder.record(location, name, raw, null);
                continue;
            }
            if (svc == null || !svc.isObject()) {
                builder.record(location, name, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                        "the entry has no Service object");
                continue;
            }
            List<String> bad = new ArrayList<>();
            ServiceInstance instance;
            try {
                instance = ServiceInstance.builder().id(id).name(text(svc, "Service")).version(version(svc))
                        .metadata(meta(svc)).endpoints(endpoints(svc, node, bad)).buildLenient();
            } catch (InvalidInstanceException e) {
                builder.record(location, name, raw, null).problem(location, Inspection.Kind.NOT_DECODABLE,
                        "the entry does not make an instance: " + RegistryUri.redact(e.getMessage()));
                continue;
            }
            bad.forEach(b -> builder.problem(location, Inspection.Kind.BAD_ENDPOINT, b));
            builder.instance(location, name, raw, instance);
            JsonNode checks = field(entry, "Checks");
            if (checks != null && checks.isArray()) {
                for (JsonNode check : checks) {
                    if ("critical".equalsIgnoreCase(text(check, "Status"))) {
                        String output = text(check, "Output");
                        builder.problem(location, Inspection.Kind.CHECK_CRITICAL, "check '" + text(check, "CheckID")
                                + "' (" + text(check, "Name") + ") is critical" + (output.isBlank() ? ""
                                : ": " + RegistryUri.redact(output.strip())) + "; passing-only readers skip it");
                    }
                }
            }
        }
    }

    /** Kratos: the last {@code version=} tag wins. */
    private static String version(JsonNode svc) {
        String version = "";
        JsonNode tags = field(svc, "Tags");
        if (tags != null && tags.isArray()) {
            for (JsonNode tag : tags) {
                if (tag.asText("").startsWith("version=")) {
                    version = tag.asText().substring("version=".length());
                }
            }
        }
        return version;
    }

    private static Map<String, String> meta(JsonNode svc) {
        Map<String, String> meta = new TreeMap<>();
        JsonNode node = field(svc, "Meta");
        if (node != null && node.isObject()) {
            node.properties().forEach(e -> meta.put(e.getKey(), e.getValue().isNull() ? "" : e.getValue().asText()));
        }
        return meta;
    }

    /**
     * The endpoints a Kratos reader finds: every tagged address but Consul's own {@code lan_*}/{@code wan_*} that
     * is a URL, else {@code http://Address:Port}. A tagged URL without a usable host or port is reported in
     * {@code bad}; a tagged plain address (no {@code ://}) is someone else's, not an endpoint.
     */
    private static List<URI> endpoints(JsonNode svc, JsonNode node, List<String> bad) {
        List<URI> endpoints = new ArrayList<>();
        JsonNode tagged = field(svc, "TaggedAddresses");
        if (tagged != null && tagged.isObject()) {
            for (Map.Entry<String, JsonNode> e : tagged.properties()) {
                String key = e.getKey().toLowerCase(Locale.ROOT);
                String address = text(e.getValue(), "Address");
                if (key.startsWith("lan_") || key.startsWith("wan_") || !address.contains("://")) {
                    continue;
                }
                Optional<URI> endpoint = Endpoints.lenient(address);
                if (endpoint.isPresent()) {
                    endpoints.add(endpoint.get());
                } else {
                    bad.add("tagged address '" + e.getKey() + "' = \"" + RegistryUri.redact(address)
                            + "\" has no usable scheme://host:port; readers drop it");
                }
            }
        }
        JsonNode port = field(svc, "Port");
        if (endpoints.isEmpty() && bad.isEmpty() && port != null && port.asInt(0) > 0) {
            String address = text(svc, "Address").isEmpty() ? text(node, "Address") : text(svc, "Address");
            if (!address.isEmpty()) {
                try {
                    endpoints.add(Endpoints.of("http", address, port.asInt()));
                } catch (IllegalArgumentException e) {
                    bad.add("address " + address + ":" + port.asInt() + " makes no usable endpoint");
                }
            }
        }
        return endpoints;
    }

    private static JsonNode get(HttpClient client, URI agent, String path, String token, Duration timeout) {
        HttpRequest.Builder request = HttpRequest.newBuilder(agent.resolve(path)).timeout(timeout).GET()
                .header("Accept", "application/json");
        if (token != null) {
            request.header("X-Consul-Token", token);
        }
        String action = "inspect: GET " + path.replaceAll("\\?.*", "");
        HttpResponse<byte[]> response;
        try {
            response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new RegistryUnavailableException(action + " failed: the Consul agent at " + agent
                    + " is unavailable (" + Failures.describe(e) + ")", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException(action + " interrupted", e);
        }
        int status = response.statusCode();
        String body = new String(response.body(), StandardCharsets.UTF_8).strip();
        if (status == 404) {
            return null;
        }
        if (status == 401 || status == 403) {
            throw new RegistryAccessDeniedException(action + " failed: the Consul agent at " + agent + " refused "
                    + "(HTTP " + status + " " + scrub(body, token) + "): check the ACL token (option 'token')", null);
        }
        if (status != 200) {
            throw new RegistryException(action + " failed: the Consul agent at " + agent + " answered HTTP "
                    + status + " " + scrub(body, token));
        }
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new RegistryException(action + " failed: the Consul agent at " + agent + " answered with "
                    + "something that is not JSON", e);
        }
    }

    /** An agent's error text never carries the token back to a log or a terminal. */
    private static String scrub(String text, String token) {
        String shown = text.length() > 200 ? text.substring(0, 200) + "..." : text;
        return token == null || token.isEmpty() ? shown : shown.replace(token, "***");
    }

    /** A field as text: empty when it is missing, null or not a value (the agent writes Consul's names). */
    private static String text(JsonNode object, String name) {
        JsonNode v = object == null ? null : object.get(name);
        return v == null || !v.isValueNode() || v.isNull() ? "" : v.asText();
    }

    private static JsonNode field(JsonNode object, String name) {
        return object == null ? null : object.get(name);
    }
}
