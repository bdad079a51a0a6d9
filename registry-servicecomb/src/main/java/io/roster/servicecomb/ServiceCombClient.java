package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Http;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The service-center v4 REST calls the registry makes, and the watcher websocket, on the JDK {@link HttpClient}
 * (docs/openapi/v4.yaml of apache/servicecomb-service-center):
 *
 * <ul>
 *   <li>{@code GET /v4/{project}/registry/existence?type=microservice&env=&appId=&serviceName=&version=} and
 *       {@code POST /v4/{project}/registry/microservices}: a microservice's id, created when missing;</li>
 *   <li>{@code POST|GET|DELETE /v4/{project}/registry/microservices/{serviceId}/instances[/{instanceId}]},
 *       {@code PUT .../instances/{instanceId}/heartbeat} and {@code PUT .../instances/{instanceId}/properties};</li>
 *   <li>{@code GET /v4/{project}/registry/instances?appId=&serviceName=&env=&rev=} with {@code X-ConsumerId}:
 *       find, answered {@code 304} when the {@code rev} is the service's current {@code X-Resource-Revision};</li>
 *   <li>{@code GET /v4/{project}/registry/microservices} and {@code .../{serviceId}/instances}: for
 *       {@code services()};</li>
 *   <li>{@code ws(s)://.../v4/{project}/registry/microservices/{consumerId}/watcher}: the watch.</li>
 * </ul>
 *
 * <p>Errors come back as HTTP 400/500 with {@code {"errorCode": "400012", "errorMessage": ..., "detail": ...}};
 * they are thrown as {@link ServiceCenterException}. With RBAC on, a token from {@code POST /v4/token} (user and
 * password) or a given token goes in {@code Authorization: Bearer}; a 401 fetches a new token once. Several
 * addresses are tried in turn when one cannot be reached. The client runs on its own small daemon executor, shut
 * down by {@link #close()}; on Java 17 the JDK client's selector thread ends once the client is unreachable.
 */
final class ServiceCombClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceCombClient.class);
    static final String REVISION_HEADER = "X-Resource-Revision";

    /** service-center's error codes (go-chassis/cari discovery). */
    static final int INVALID_PARAMS = 400001;
    static final int SERVICE_ALREADY_EXISTS = 400010;
    static final int SERVICE_NOT_EXISTS = 400012;
    static final int INSTANCE_NOT_EXISTS = 400017;

    private final ServiceCombConfig config;
    private final ExecutorService executor;
    private final Set<CompletableFuture<?>> inFlight = ConcurrentHashMap.newKeySet();
    private final AtomicInteger current = new AtomicInteger();
    private volatile HttpClient http;
    private volatile String token;

    ServiceCombClient(ServiceCombConfig config) {
        this.config = config;
        this.token = config.token;
        ThreadPoolExecutor pool = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                new DaemonThreadFactory("roster-servicecomb-http"));
        pool.allowCoreThreadTimeOut(true);
        this.executor = pool;
        HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(config.timeout).executor(executor);
        if (config.sslContext != null) {
            b.sslContext(config.sslContext);
        }
        this.http = b.build();
    }

    /** service-center refused a request: its HTTP status and error code. */
    static final class ServiceCenterException extends IOException {
        private static final long serialVersionUID = 1L;
        final int status;
        final int code;

        ServiceCenterException(int status, int code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }

        boolean denied() {
            return status == 401 || status == 403;
        }
    }

    /** One answer. */
    static final class Reply {
        final int status;
        final byte[] body;
        final String revision;

        Reply(HttpResponse<byte[]> r) {
            this.status = r.statusCode();
            this.body = r.body() == null ? new byte[0] : r.body();
            this.revision = r.headers().firstValue(REVISION_HEADER).orElse("");
        }

        boolean ok() {
            return status / 100 == 2;
        }

        JsonNode json() throws IOException {
            return body.length == 0 ? ServiceCombFormat.JSON.createObjectNode() : ServiceCombFormat.JSON.readTree(body);
        }
    }

    /** A find answer: not modified, the service unknown, or its instances and revision. */
    static final class Found {
        final boolean notModified;
        final JsonNode answer; // null when the service does not exist
        final String revision;

        Found(boolean notModified, JsonNode answer, String revision) {
            this.notModified = notModified;
            this.answer = answer;
            this.revision = revision;
        }
    }

    // --- microservices -------------------------------------------------------------------------------------

    /** The id of a microservice, or empty when service-center does not know it. */
    Optional<String> existence(ServiceCombFormat.ServiceKey key) throws IOException, InterruptedException {
        String query = "type=microservice&env=" + q(key.environment) + "&appId=" + q(key.app) + "&serviceName="
                + q(key.name) + "&version=" + q(key.version);
        Reply reply = send(() -> get("/registry/existence?" + query), "looking up microservice " + key);
        if (reply.ok()) {
            String id = ServiceCombFormat.text(reply.json(), "serviceId");
            return id.isEmpty() ? Optional.empty() : Optional.of(id);
        }
        ServiceCenterException e = failure(reply, "looking up microservice " + key);
        if (e.code == SERVICE_NOT_EXISTS) {
            return Optional.empty();
        }
        throw e;
    }

    /** The id of a microservice, created (as Kratos does) when it does not exist yet. */
    String ensureService(ServiceCombFormat.ServiceKey key) throws IOException, InterruptedException {
        Optional<String> id = existence(key);
        if (id.isPresent()) {
            return id.get();
        }
        String body = ServiceCombFormat.microservice(key);
        Reply reply = send(() -> post("/registry/microservices", body), "creating microservice " + key);
        if (reply.ok()) {
            String created = ServiceCombFormat.text(reply.json(), "serviceId");
            if (!created.isEmpty()) {
                return created;
            }
        } else if (failure(reply, "").code != SERVICE_ALREADY_EXISTS) {
            throw failure(reply, "creating microservice " + key);
        }
        // Created by another process meanwhile (400010), as Kratos handles it: look it up again.
        return existence(key).orElseThrow(() -> new ServiceCenterException(400, SERVICE_NOT_EXISTS,
                "microservice " + key + " was created but cannot be found"));
    }

    /** Every microservice of the project: {@code {"services": [...]}}. */
    JsonNode services() throws IOException, InterruptedException {
        Reply reply = send(() -> get("/registry/microservices"), "listing microservices");
        expectOk(reply, "listing microservices");
        return reply.json();
    }

    // --- instances -----------------------------------------------------------------------------------------

    void registerInstance(String serviceId, String body) throws IOException, InterruptedException {
        String action = "registering an instance of microservice " + serviceId;
        expectOk(send(() -> post("/registry/microservices/" + p(serviceId) + "/instances", body), action), action);
    }

    /** One instance, or empty when it (or its microservice) does not exist. */
    Optional<JsonNode> instance(String serviceId, String instanceId) throws IOException, InterruptedException {
        String action = "reading instance " + instanceId;
        Reply reply = send(() -> get(instancePath(serviceId, instanceId)), action);
        if (reply.ok()) {
            return Optional.ofNullable(reply.json().get("instance"));
        }
        if (gone(reply)) {
            return Optional.empty();
        }
        throw failure(reply, action);
    }

    /** The instances of one microservice: {@code {"instances": [...]}}; empty when it does not exist. */
    JsonNode instances(String serviceId) throws IOException, InterruptedException {
        String action = "listing the instances of microservice " + serviceId;
        Reply reply = send(() -> get("/registry/microservices/" + p(serviceId) + "/instances"), action);
        if (reply.ok()) {
            return reply.json();
        }
        if (gone(reply)) {
            return ServiceCombFormat.JSON.createObjectNode();
        }
        throw failure(reply, action);
    }

    /** Deletes an instance; false when it was not there (or its microservice is gone). */
    boolean deleteInstance(String serviceId, String instanceId) throws IOException, InterruptedException {
        String action = "deregistering instance " + instanceId;
        Reply reply = send(() -> request(instancePath(serviceId, instanceId)).DELETE().build(), action);
        if (reply.ok()) {
            return true;
        }
        if (gone(reply)) {
            return false;
        }
        throw failure(reply, action);
    }

    void putProperties(String serviceId, String instanceId, String body) throws IOException, InterruptedException {
        String action = "updating the properties of instance " + instanceId;
        expectOk(send(() -> put(instancePath(serviceId, instanceId) + "/properties", body), action), action);
    }

    /** A heartbeat, asynchronously: the reply, whatever its status. */
    CompletableFuture<Reply> heartbeat(String serviceId, String instanceId) {
        return sendAsync(() -> put(instancePath(serviceId, instanceId) + "/heartbeat", ""));
    }

    /**
     * Finds a service's instances of every version in the app and environment.
     *
     * @param consumerId the consumer's microservice id, or null (with one, service-center records the dependency
     *     and pushes the service's changes to the consumer's watcher)
     * @param revision the revision of the last answer, or empty
     */
    Found find(String name, String consumerId, String revision) throws IOException, InterruptedException {
        String query = "appId=" + q(config.app) + "&serviceName=" + q(name) + "&env=" + q(config.environment)
                + (revision.isEmpty() ? "" : "&rev=" + q(revision));
        String action = "finding service '" + name + "'";
        Reply reply = send(() -> {
            HttpRequest.Builder b = request("/registry/instances?" + query);
            if (consumerId != null) {
                b.header("X-ConsumerId", consumerId);
            }
            return b.GET().build();
        }, action);
        if (reply.status == 304) {
            return new Found(true, null, revision);
        }
        if (reply.ok()) {
            return new Found(false, reply.json(), reply.revision);
        }
        if (failure(reply, action).code == SERVICE_NOT_EXISTS) {
            return new Found(false, null, "");
        }
        throw failure(reply, action);
    }

    // --- watch ---------------------------------------------------------------------------------------------

    /** Opens the watcher websocket of a consumer; completes once the server accepted it. */
    CompletableFuture<WebSocket> watch(String consumerId, WebSocket.Listener listener) {
        HttpClient h = http;
        if (h == null) {
            return CompletableFuture.failedFuture(new IOException("the servicecomb client is closed"));
        }
        URI base = address();
        String scheme = base.getScheme().equals("https") ? "wss" : "ws";
        URI uri = URI.create(scheme + "://" + base.getRawAuthority() + "/v4/" + p(config.project)
                + "/registry/microservices/" + p(consumerId) + "/watcher");
        try {
            WebSocket.Builder b = h.newWebSocketBuilder().connectTimeout(config.timeout)
                    .header("X-Domain-Name", config.domain);
            String auth = authorization();
            if (auth != null) {
                b.header("Authorization", auth);
            }
            CompletableFuture<WebSocket> ws = b.buildAsync(uri, listener);
            inFlight.add(ws);
            ws.whenComplete((w, e) -> {
                inFlight.remove(ws);
                if (e != null) {
                    rotate(base);
                }
            });
            return ws;
        } catch (IOException | InterruptedException | RuntimeException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return CompletableFuture.failedFuture(e);
        }
    }

    // --- plumbing ------------------------------------------------------------------------------------------

    @FunctionalInterface
    private interface RequestFactory {
        HttpRequest make() throws IOException, InterruptedException;
    }

    private String instancePath(String serviceId, String instanceId) {
        return "/registry/microservices/" + p(serviceId) + "/instances/" + p(instanceId);
    }

    private static boolean gone(Reply reply) {
        if (reply.status != 400 && reply.status != 404) {
            return false;
        }
        int code = code(reply);
        return code == SERVICE_NOT_EXISTS || code == INSTANCE_NOT_EXISTS;
    }

    private HttpRequest get(String path) throws IOException, InterruptedException {
        return request(path).GET().build();
    }

    private HttpRequest post(String path, String body) throws IOException, InterruptedException {
        return request(path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private HttpRequest put(String path, String body) throws IOException, InterruptedException {
        return request(path).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private HttpRequest.Builder request(String path) throws IOException, InterruptedException {
        URI uri = URI.create(address().toString() + "v4/" + p(config.project) + path);
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(config.timeout)
                .header("X-Domain-Name", config.domain).header("Accept", "application/json");
        String auth = authorization();
        if (auth != null) {
            b.header("Authorization", auth);
        }
        return b;
    }

    /** The bearer token: given, or fetched with the user and password (once, and again after a 401). */
    private String authorization() throws IOException, InterruptedException {
        String t = token;
        if (t == null && config.user != null) {
            t = fetchToken();
        }
        return t == null ? null : "Bearer " + t;
    }

    private synchronized String fetchToken() throws IOException, InterruptedException {
        if (token != null) {
            return token;
        }
        ObjectNode account = ServiceCombFormat.JSON.createObjectNode();
        account.put("name", config.user);
        account.put("password", config.password == null ? "" : config.password);
        URI uri = URI.create(address().toString() + "v4/token");
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(config.timeout)
                .header("Content-Type", "application/json").header("X-Domain-Name", config.domain)
                .POST(HttpRequest.BodyPublishers.ofString(account.toString())).build();
        Reply reply = new Reply(client().send(request, HttpResponse.BodyHandlers.ofByteArray()));
        if (!reply.ok()) {
            throw failure(reply, "getting a token for user '" + config.user + "'");
        }
        String t = ServiceCombFormat.text(reply.json(), "token");
        if (t.isEmpty()) {
            throw new ServiceCenterException(reply.status, 0, "getting a token for user '" + config.user
                    + "': the answer holds no token");
        }
        token = t;
        return t;
    }

    private Reply send(RequestFactory factory, String action) throws IOException, InterruptedException {
        IOException last = null;
        boolean retriedAuth = false;
        for (int attempt = 0; attempt < config.addresses.size() + 1; attempt++) {
            URI base = address();
            try {
                Reply reply = new Reply(client().send(factory.make(), HttpResponse.BodyHandlers.ofByteArray()));
                if (reply.status == 401 && config.user != null && !retriedAuth) {
                    retriedAuth = true; // the token expired: one more try with a fresh one
                    token = null;
                    continue;
                }
                return reply;
            } catch (ServiceCenterException e) {
                throw e;
            } catch (IOException e) {
                last = e;
                // A kept-alive connection the server closed as it was reused fails with no answer at all: one more
                // try, on a fresh connection (every call here is idempotent or tolerates a repeat). A refused
                // connection or a timeout moves on to the next address, if any.
                boolean unreachable = e instanceof ConnectException || e instanceof HttpTimeoutException;
                if (config.addresses.size() == 1 && (unreachable || attempt > 0)) {
                    break;
                }
                if (unreachable) {
                    rotate(base);
                }
                LOG.debug("servicecomb {} at {} failed ({}), trying again", action, base, e.toString());
            }
        }
        throw last != null ? last : new IOException(action + ": no answer");
    }

    private CompletableFuture<Reply> sendAsync(RequestFactory factory) {
        URI base = address();
        CompletableFuture<HttpResponse<byte[]>> exchange;
        try {
            exchange = client().sendAsync(factory.make(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException | InterruptedException | RuntimeException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return CompletableFuture.failedFuture(e);
        }
        inFlight.add(exchange);
        return exchange.whenComplete((r, e) -> {
            inFlight.remove(exchange);
            if (e != null) {
                rotate(base);
            } else if (r.statusCode() == 401 && config.user != null) {
                token = null; // fetched again by the next request
            }
        }).thenApply(Reply::new);
    }

    private URI address() {
        List<URI> all = config.addresses;
        return all.get(Math.floorMod(current.get(), all.size()));
    }

    /** Moves to the next address after a failure at {@code failed}, unless another failure already moved on. */
    private void rotate(URI failed) {
        int i = current.get();
        if (config.addresses.size() > 1 && address().equals(failed)) {
            current.compareAndSet(i, i + 1);
        }
    }

    private HttpClient client() throws IOException {
        HttpClient h = http;
        if (h == null) {
            throw new IOException("the servicecomb client is closed");
        }
        return h;
    }

    private void expectOk(Reply reply, String action) throws ServiceCenterException {
        if (!reply.ok()) {
            throw failure(reply, action);
        }
    }

    private static int code(Reply reply) {
        try {
            JsonNode code = reply.json().get("errorCode");
            return code == null ? 0 : Integer.parseInt(code.asText().trim());
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }

    /** The server's error, shortened; service-center never echoes credentials, and the token is masked anyway. */
    ServiceCenterException failure(Reply reply, String action) {
        int code = code(reply);
        String text;
        try {
            JsonNode json = reply.json();
            text = ServiceCombFormat.text(json, "errorMessage");
            String detail = ServiceCombFormat.text(json, "detail");
            text = detail.isEmpty() || detail.equals(text) ? text : text + ": " + detail;
        } catch (IOException e) {
            text = new String(reply.body, StandardCharsets.UTF_8).strip();
        }
        if (text.length() > 300) {
            text = text.substring(0, 300) + "...";
        }
        String t = token;
        if (t != null && !t.isEmpty()) {
            text = text.replace(t, "***");
        }
        return new ServiceCenterException(reply.status, code, action + ": HTTP " + reply.status
                + (code == 0 ? "" : " error " + code) + (text.isEmpty() ? "" : " " + text));
    }

    private static String p(String segment) {
        return Http.pathSegment(segment);
    }

    private static String q(String value) {
        return Http.pathSegment(value);
    }

    /** Aborts requests in flight, stops the executor and lets go of the HTTP client. Idempotent. */
    @Override
    public void close() {
        HttpClient h = http;
        http = null;
        inFlight.forEach(f -> f.cancel(true));
        executor.shutdownNow();
        Http.shutdown(h);
        try {
            if (!executor.awaitTermination(config.timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.debug("servicecomb client executor still busy after {}", config.timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "ServiceCombClient{" + config.description() + "}";
    }
}
