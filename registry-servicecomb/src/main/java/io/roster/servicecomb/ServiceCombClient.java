package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Http;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The service-center v4 REST calls the registry makes, on {@link Http} (docs/openapi/v4.yaml of
 * apache/servicecomb-service-center), and the watcher websocket, on {@code java.net.http.WebSocket}:
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
 * addresses are tried in turn when one cannot be reached.
 *
 * <p>Connections: one {@link Http} pool per address, at most {@value #MAX_CONNECTIONS} sockets each, whose
 * {@code close()} closes every socket at once on any Java (the JDK {@code HttpClient} has no {@code close()} on
 * Java 17: its pooled connections stayed open until the garbage collector found it). The JDK's client carries only
 * the websocket, which it has and {@link Http} has not: each websocket gets a client and a small executor of its
 * own, ended with it ({@link WatchSocket#close()}), so that nothing of it outlives a reconnect or {@link #close()}.
 */
final class ServiceCombClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceCombClient.class);
    static final String REVISION_HEADER = "X-Resource-Revision";
    /**
     * Sockets per address at most: the heartbeat lanes, the watch's reads and a few registrations at once. Idle ones
     * are closed after {@link #IDLE}.
     */
    static final int MAX_CONNECTIONS = 16;
    /** Under the idle timeouts of service-center (Go's net/http) and of proxies in between. */
    private static final Duration IDLE = Duration.ofSeconds(20);

    /** service-center's error codes (go-chassis/cari discovery). */
    static final int INVALID_PARAMS = 400001;
    static final int SERVICE_ALREADY_EXISTS = 400010;
    static final int SERVICE_NOT_EXISTS = 400012;
    static final int INSTANCE_NOT_EXISTS = 400017;

    private final ServiceCombConfig config;
    private final List<Http> servers = new ArrayList<>(); // one per address, in the config's order
    private final Set<WatchSocket> sockets = ConcurrentHashMap.newKeySet();
    private final AtomicInteger current = new AtomicInteger();
    private volatile boolean closed;
    private volatile String token;

    ServiceCombClient(ServiceCombConfig config) {
        this.config = config;
        this.token = config.token;
        for (URI address : config.addresses) {
            servers.add(Http.builder(address).maxConnections(MAX_CONNECTIONS).timeout(config.timeout)
                    .idleTimeout(IDLE).sslContext(config.sslContext).header("X-Domain-Name", config.domain)
                    .header("Accept", "application/json").threadName("roster-servicecomb-http").build());
        }
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

        Reply(Http.Response r) {
            this.status = r.status();
            this.body = r.body();
            this.revision = r.header(REVISION_HEADER).orElse("");
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
        Reply reply = send(get("/registry/existence?" + query), "looking up microservice " + key);
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
        Reply reply = send(json("POST", "/registry/microservices", body), "creating microservice " + key);
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
        Reply reply = send(get("/registry/microservices"), "listing microservices");
        expectOk(reply, "listing microservices");
        return reply.json();
    }

    // --- instances -----------------------------------------------------------------------------------------

    void registerInstance(String serviceId, String body) throws IOException, InterruptedException {
        String action = "registering an instance of microservice " + serviceId;
        expectOk(send(json("POST", "/registry/microservices/" + p(serviceId) + "/instances", body), action),
                action);
    }

    /** One instance, or empty when it (or its microservice) does not exist. */
    Optional<JsonNode> instance(String serviceId, String instanceId) throws IOException, InterruptedException {
        String action = "reading instance " + instanceId;
        Reply reply = send(get(instancePath(serviceId, instanceId)), action);
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
        Reply reply = send(get("/registry/microservices/" + p(serviceId) + "/instances"), action);
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
        Reply reply = send(json("DELETE", instancePath(serviceId, instanceId), ""), action);
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
        expectOk(send(json("PUT", instancePath(serviceId, instanceId) + "/properties", body), action), action);
    }

    /**
     * A heartbeat, asynchronously on the pool's threads: the reply, whatever its status. A token, when one must be
     * fetched first, is fetched on the calling thread.
     */
    CompletableFuture<Reply> heartbeat(String serviceId, String instanceId) {
        int at = current.get();
        Http.Request request;
        try {
            request = authorized(json("PUT", instancePath(serviceId, instanceId) + "/heartbeat", ""));
        } catch (IOException | InterruptedException | RuntimeException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return CompletableFuture.failedFuture(e);
        }
        return server(at).sendAsync(request).whenComplete((r, e) -> {
            if (e != null) {
                rotate(at);
            } else if (r.status() == 401 && config.user != null) {
                token = null; // fetched again by the next request
            }
        }).thenApply(Reply::new);
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
        Http.Request request = get("/registry/instances?" + query);
        Reply reply = send(consumerId == null ? request : request.header("X-ConsumerId", consumerId), action);
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

    /**
     * The watcher websocket of a consumer, on a JDK client and executor of its own that {@link #close()} ends, with
     * the socket, whatever state the opening handshake is in.
     */
    final class WatchSocket implements AutoCloseable {
        private final ThreadPoolExecutor executor;
        private volatile HttpClient http; // dropped on close, so that Java 17's selector thread ends with it
        private volatile CompletableFuture<WebSocket> opening;
        private volatile boolean ended;

        private WatchSocket() {
            this.executor = new ThreadPoolExecutor(2, 2, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                    new DaemonThreadFactory("roster-servicecomb-websocket"));
            executor.allowCoreThreadTimeOut(true);
            HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(config.timeout).executor(executor);
            if (config.sslContext != null) {
                b.sslContext(config.sslContext);
            }
            this.http = b.build();
        }

        /** Completes once the server accepted the websocket. */
        CompletableFuture<WebSocket> opening() {
            return opening;
        }

        private void open(URI uri, String authorization, WebSocket.Listener listener) {
            WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(config.timeout)
                    .header("X-Domain-Name", config.domain);
            if (authorization != null) {
                b.header("Authorization", authorization);
            }
            opening = b.buildAsync(uri, listener);
            // A handshake that completes after close() (Java 17 cannot stop it) is aborted as it completes.
            opening.whenComplete((ws, e) -> {
                if (ws != null && ended) {
                    ws.abort();
                }
            });
        }

        /** Aborts the websocket (or its handshake) and ends the client's executor. Idempotent. */
        @Override
        public void close() {
            ended = true;
            sockets.remove(this);
            CompletableFuture<WebSocket> o = opening;
            if (o != null && o.isDone() && !o.isCompletedExceptionally()) {
                o.join().abort();
            } // else the handshake ends within the connect timeout, and the hook in open() aborts what it made
            HttpClient h = http;
            http = null;
            Http.shutdown(h); // Java 21+: closes the client at once; Java 17: it ends once collected
            executor.shutdown(); // not shutdownNow: close() may run on one of its threads (a listener callback)
        }
    }

    /** Opens the watcher websocket of a consumer; its {@link WatchSocket#opening()} completes once accepted. */
    WatchSocket watch(String consumerId, WebSocket.Listener listener) throws IOException, InterruptedException {
        if (closed) {
            throw closedException();
        }
        int at = current.get();
        URI base = config.addresses.get(Math.floorMod(at, servers.size()));
        String scheme = base.getScheme().equals("https") ? "wss" : "ws";
        URI uri = URI.create(scheme + "://" + base.getRawAuthority() + "/v4/" + p(config.project)
                + "/registry/microservices/" + p(consumerId) + "/watcher");
        String authorization = authorization();
        WatchSocket socket = new WatchSocket();
        sockets.add(socket);
        if (closed) {
            socket.close();
            throw closedException();
        }
        try {
            socket.open(uri, authorization, listener);
        } catch (RuntimeException e) {
            socket.close();
            throw new IOException("cannot open the watcher websocket at " + uri + ": " + e, e);
        }
        socket.opening().whenComplete((w, e) -> {
            if (e != null) {
                rotate(at);
            }
        });
        return socket;
    }

    // --- plumbing ------------------------------------------------------------------------------------------

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

    private Http.Request get(String path) {
        return Http.Request.get(projectPath(path));
    }

    private Http.Request json(String method, String path, String body) {
        return Http.Request.json(method, projectPath(path), body);
    }

    private String projectPath(String path) {
        return "/v4/" + p(config.project) + path;
    }

    /** The request with the bearer token, when there is one. */
    private Http.Request authorized(Http.Request request) throws IOException, InterruptedException {
        String auth = authorization();
        return auth == null ? request : request.header("Authorization", auth);
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
        Reply reply = new Reply(server(current.get()).send(Http.Request.json("POST", "/v4/token",
                account.toString())));
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

    private Reply send(Http.Request request, String action) throws IOException, InterruptedException {
        IOException last = null;
        boolean retriedAuth = false;
        for (int attempt = 0; attempt < servers.size() + 1; attempt++) {
            int at = current.get();
            try {
                Reply reply = new Reply(server(at).send(authorized(request)));
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
                // Http sends an idempotent request again by itself when a kept-alive connection turns out closed;
                // a registration (POST) tolerates a repeat too, so one more try covers it. A refused connection or
                // a timeout moves on to the next address, if any.
                boolean unreachable = e instanceof ConnectException || e instanceof SocketTimeoutException;
                if (closed || (servers.size() == 1 && (unreachable || attempt > 0))) {
                    break;
                }
                if (unreachable) {
                    rotate(at);
                }
                LOG.debug("servicecomb {} at {} failed ({}), trying again", action,
                        config.addresses.get(Math.floorMod(at, servers.size())), e.toString());
            }
        }
        throw last != null ? last : new IOException(action + ": no answer");
    }

    private Http server(int at) {
        return servers.get(Math.floorMod(at, servers.size()));
    }

    /** Moves to the next address after a failure at {@code failed}, unless another failure already moved on. */
    private void rotate(int failed) {
        if (servers.size() > 1) {
            current.compareAndSet(failed, failed + 1);
        }
    }

    private IOException closedException() {
        return new IOException("the servicecomb client is closed");
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

    /** Connections open now to every address, for tests. */
    int openConnections() {
        return servers.stream().mapToInt(Http::openConnections).sum();
    }

    /**
     * Closes every connection and websocket at once, failing requests in flight, and ends the clients' threads.
     * Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        new ArrayList<>(sockets).forEach(WatchSocket::close);
        servers.forEach(Http::close);
    }

    @Override
    public String toString() {
        return "ServiceCombClient{" + config.description() + "}";
    }
}
