package io.roster.benchmarks.propagation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.ServiceInstance;
import io.roster.spi.Durations;
import io.roster.testkit.FreePorts;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.HashSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Eureka: registry-eureka's test server (Spring Cloud Netflix's {@code @EnableEurekaServer} with the tests'
 * settings: read-write response cache only, so a register is readable at once) in a {@link ServerProcess}. The raw
 * client is Eureka's REST API over the JDK {@code HttpClient}: {@code POST apps/<APP>} of the same Kratos-layout
 * record Roster writes, {@code DELETE apps/<APP>/<instanceId>}, and a poller that reads {@code GET apps/<APP>} at a
 * fixed rate and parses it with Jackson, as Roster's watch does. Server counters are Eureka's own
 * ({@code EurekaMonitors}: renewals, registrations, reads).
 */
final class EurekaBackend implements Backend {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    /** Roster's default renewal interval and lease; the raw client's are the same. */
    private static final int RENEW_SECONDS = 10;
    private static final int LEASE_SECONDS = 30;

    private final Duration refresh;
    private ServerProcess server;
    private Cleanup cleanup;
    private int port;

    EurekaBackend(Duration refresh) {
        this.refresh = refresh;
    }

    @Override
    public String name() {
        return "eureka";
    }

    @Override
    public String label() {
        return "Eureka";
    }

    @Override
    public String server() {
        return "Eureka " + jarVersion("eureka-core") + " in Spring Cloud Netflix "
                + jarVersion("spring-cloud-netflix-eureka-server") + " (registry-eureka's EurekaTestServer in its "
                + "own JVM: read-write response cache only)";
    }

    /** The version of a jar on the class path, from its file name. */
    static String jarVersion(String artifact) {
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            String file = entry.substring(entry.lastIndexOf(java.io.File.separatorChar) + 1);
            if (file.startsWith(artifact + "-") && file.endsWith(".jar")
                    && Character.isDigit(file.charAt(artifact.length() + 1))) {
                return file.substring(artifact.length() + 1, file.length() - 4);
            }
        }
        return "?";
    }

    @Override
    public String raw() {
        return "REST POST / DELETE → poller GET apps/<APP> every " + Durations.format(refresh) + " (fixed rate)";
    }

    @Override
    public void start(Cleanup cleanup) throws IOException, InterruptedException {
        this.cleanup = cleanup;
        port = FreePorts.next();
        server = cleanup.add(ServerProcess.start("eureka", port));
        warmUp();
    }

    /**
     * Registers, reads and removes an instance a hundred times: a fresh Eureka server (Spring, Jersey, Jackson,
     * all interpreted at first) answers its first requests slowly enough that a client's timeout can expire.
     */
    private void warmUp() throws IOException, InterruptedException {
        ExecutorService executor = executor("bench-eureka-warmup");
        try {
            HttpClient http = http(executor);
            String service = Instances.service("warmup");
            for (int i = 0; i < 100; i++) {
                ServiceInstance instance = Instances.next(service);
                register(http, instance, LEASE_SECONDS);
                check(http.send(request("GET", "apps/" + app(service), null),
                        HttpResponse.BodyHandlers.discarding()), 200);
                deregister(http, instance);
            }
        } finally {
            executor.shutdownNow();
        }
    }

    @Override
    public String rosterUri() {
        return "eureka://127.0.0.1:" + port + "/eureka?refresh=" + Durations.format(refresh);
    }

    @Override
    public Duration pollPeriod() {
        return refresh;
    }

    private String base() {
        return "http://127.0.0.1:" + port + "/eureka/";
    }

    private static String app(String service) {
        return service.toUpperCase(Locale.ROOT);
    }

    private static String instanceId(ServiceInstance i) {
        URI e = i.endpoints().get(0);
        return e.getHost() + ":" + app(i.name()) + ":" + e.getPort();
    }

    /** The record Roster writes for a one-endpoint instance (Kratos's layout), but marked as the raw client's. */
    private static String record(ServiceInstance i, int leaseSeconds) {
        URI e = i.endpoints().get(0);
        String app = app(i.name());
        ObjectNode root = JSON.createObjectNode();
        ObjectNode json = root.putObject("instance");
        json.put("instanceId", instanceId(i));
        json.put("hostName", app);
        json.putObject("port").put("$", e.getPort()).put("@enabled", "true");
        json.put("app", app);
        json.put("ipAddr", e.getHost());
        json.put("vipAddress", app);
        json.put("status", "UP");
        json.putObject("securePort").put("$", 443).put("@enabled", "false");
        json.put("homePageUrl", e + "/");
        json.put("statusPageUrl", e + "/info");
        json.put("healthCheckUrl", e + "/health");
        json.putObject("dataCenterInfo").put("name", "MyOwn")
                .put("@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo");
        ObjectNode md = json.putObject("metadata");
        md.put("Endpoints", e.toString());
        md.put("ID", i.id());
        md.put("Name", i.name());
        md.put("Version", i.version());
        md.put("agent", "roster-bench-raw");
        i.metadata().forEach(md::put);
        json.putObject("leaseInfo").put("renewalIntervalInSecs", RENEW_SECONDS).put("durationInSecs", leaseSeconds);
        return root.toString();
    }

    static {
        // The server (Tomcat) closes a kept-alive connection after 100 requests; a POST or DELETE that the JDK client
        // sent on it just then fails with "header parser received no bytes", and the JDK resends only GET and HEAD
        // unless told. A raw client in production retries such a write too.
        if (System.getProperty("jdk.httpclient.enableAllMethodRetry") == null) {
            System.setProperty("jdk.httpclient.enableAllMethodRetry", "true");
        }
    }

    private static HttpClient http(ExecutorService executor) {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
                .connectTimeout(TIMEOUT).build();
    }

    private static ExecutorService executor(String name) {
        return Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    private HttpRequest request(String method, String path, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(TIMEOUT)
                .header("Accept", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return b.build();
    }

    private static void check(HttpResponse<?> response, int... ok) throws IOException {
        for (int status : ok) {
            if (response.statusCode() == status) {
                return;
            }
        }
        throw new IOException(response.request().method() + " " + response.request().uri() + " answered HTTP "
                + response.statusCode());
    }

    private void register(HttpClient http, ServiceInstance i, int leaseSeconds)
            throws IOException, InterruptedException {
        check(http.send(request("POST", "apps/" + app(i.name()), record(i, leaseSeconds)),
                HttpResponse.BodyHandlers.discarding()), 204);
    }

    private void deregister(HttpClient http, ServiceInstance i) throws IOException, InterruptedException {
        check(http.send(request("DELETE", "apps/" + app(i.name()) + "/" + instanceId(i), null),
                HttpResponse.BodyHandlers.discarding()), 200, 404);
    }

    @Override
    public Side rawSide(String service) {
        return new RawSide(service);
    }

    @Override
    public AutoCloseable preload(List<ServiceInstance> instances) throws Exception {
        ExecutorService executor = executor("bench-eureka-loader");
        HttpClient http = http(executor);
        try {
            // An hour's lease: the preloaded instances are not renewed, and the server evicts every 500 ms.
            all(http, instances, i -> request("POST", "apps/" + app(i.name()), record(i, 3600)), 204);
        } catch (Exception | Error e) {
            executor.shutdownNow();
            throw e;
        }
        return () -> {
            try {
                all(http, instances, i -> request("DELETE", "apps/" + app(i.name()) + "/" + instanceId(i), null),
                        200, 404);
            } finally {
                executor.shutdownNow();
            }
        };
    }

    /** Sends one request per instance, 8 at a time. */
    private static void all(HttpClient http, List<ServiceInstance> instances,
                            java.util.function.Function<ServiceInstance, HttpRequest> request, int... ok)
            throws Exception {
        Semaphore inFlight = new Semaphore(8);
        List<CompletableFuture<HttpResponse<Void>>> sent = new ArrayList<>();
        for (ServiceInstance i : instances) {
            inFlight.acquire();
            sent.add(http.sendAsync(request.apply(i), HttpResponse.BodyHandlers.discarding())
                    .whenComplete((r, t) -> inFlight.release()));
        }
        for (CompletableFuture<HttpResponse<Void>> f : sent) {
            check(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS), ok);
        }
    }

    @Override
    public Load load() throws Exception {
        long renewals = -1;
        for (String pair : server.request("stats").split(" ")) {
            if (pair.startsWith("RENEW=")) {
                renewals = Long.parseLong(pair.substring("RENEW=".length()));
            }
        }
        return new Load(renewals, "renewals (EurekaMonitors.RENEW)", Map.of());
    }

    /** Each Eureka instance is a lease of its own. */
    @Override
    public Map<String, Long> held(String service) throws Exception {
        ExecutorService executor = executor("bench-eureka-stats");
        try {
            HttpResponse<byte[]> r = http(executor).send(request("GET", "apps/" + app(service), null),
                    HttpResponse.BodyHandlers.ofByteArray());
            check(r, 200, 404);
            long leases = r.statusCode() == 404 ? 0
                    : asList(JSON.readTree(r.body()).path("application").path("instance")).size();
            return Map.of("leases", leases);
        } finally {
            executor.shutdownNow();
        }
    }

    /** Eureka's JSON writes a one-element list as the element itself. */
    private static List<JsonNode> asList(JsonNode node) {
        List<JsonNode> out = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(out::add);
        } else if (node.isObject()) {
            out.add(node);
        }
        return out;
    }

    @Override
    public AutoCloseable rawKeepalive(List<ServiceInstance> instances) throws Exception {
        ExecutorService executor = executor("bench-eureka-raw-http");
        HttpClient http = http(executor);
        ScheduledExecutorService renewer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-eureka-raw-renew");
            t.setDaemon(true);
            return t;
        });
        try {
            for (ServiceInstance i : instances) {
                register(http, i, LEASE_SECONDS);
                // Each instance renews every RENEW_SECONDS from a random point, as independent clients would.
                renewer.scheduleAtFixedRate(() -> renew(http, i),
                        ThreadLocalRandom.current().nextLong(RENEW_SECONDS * 1000L), RENEW_SECONDS * 1000L,
                        TimeUnit.MILLISECONDS);
            }
        } catch (Exception | Error e) {
            renewer.shutdownNow();
            executor.shutdownNow();
            throw e;
        }
        return () -> {
            renewer.shutdownNow();
            try {
                all(http, instances, i -> request("DELETE", "apps/" + app(i.name()) + "/" + instanceId(i), null),
                        200, 404);
            } finally {
                executor.shutdownNow();
            }
        };
    }

    private void renew(HttpClient http, ServiceInstance i) {
        try {
            HttpResponse<Void> r = http.send(request("PUT", "apps/" + app(i.name()) + "/" + instanceId(i), null),
                    HttpResponse.BodyHandlers.discarding());
            if (r.statusCode() == 404) {
                register(http, i, LEASE_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            System.err.println("raw eureka renewal failed: " + e);
        }
    }

    @Override
    public String keepaliveSettings() {
        return "Roster's default (renew 10 s, lease 30 s, a renewal per instance); raw: a renewal per instance every "
                + "10 s, lease 30 s";
    }

    @Override
    public void close() {
        if (server != null) {
            cleanup.closed(server);
        }
    }

    /** One HttpClient registers and deregisters; another polls the application at a fixed rate. */
    private final class RawSide implements Side {
        private final ExecutorService executor = executor("bench-eureka-raw-http");
        private final HttpClient writer = http(executor);
        private final HttpClient reader = http(executor);
        private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bench-eureka-raw-poll");
            t.setDaemon(true);
            return t;
        });
        private final IdsObserver observer = new IdsObserver();
        private final String app;

        RawSide(String service) {
            app = app(service);
            poller.scheduleAtFixedRate(this::poll, 0, refresh.toNanos(), TimeUnit.NANOSECONDS);
        }

        private void poll() {
            try {
                HttpResponse<byte[]> r = reader.send(request("GET", "apps/" + app, null),
                        HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() == 404) {
                    observer.replace(Set.of(), System.nanoTime());
                    return;
                }
                check(r, 200);
                Set<String> ids = new HashSet<>();
                for (JsonNode i : asList(JSON.readTree(r.body()).path("application").path("instance"))) {
                    if ("UP".equals(i.path("status").asText())) {
                        JsonNode id = i.path("metadata").path("ID");
                        ids.add(id.isTextual() ? id.asText() : i.path("instanceId").asText());
                    }
                }
                observer.replace(ids, System.nanoTime());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                System.err.println("raw eureka poll failed: " + e);
            }
        }

        @Override
        public void register(ServiceInstance instance) throws Exception {
            EurekaBackend.this.register(writer, instance, LEASE_SECONDS);
        }

        @Override
        public void deregister(ServiceInstance instance) throws Exception {
            EurekaBackend.this.deregister(writer, instance);
        }

        @Override
        public Observer observer() {
            return observer;
        }

        @Override
        public void close() {
            poller.shutdownNow();
            try {
                poller.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            executor.shutdownNow();
        }
    }
}
