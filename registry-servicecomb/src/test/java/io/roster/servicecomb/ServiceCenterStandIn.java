package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.spi.DaemonThreadFactory;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import javax.net.ssl.SSLContext;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * <b>A stand-in for Apache ServiceComb service-center, for tests only.</b> No service-center can run on the build
 * machines, so this serves, in the test JVM on a free loopback port, the v4 REST API and the watcher websocket
 * that {@code registry-servicecomb} uses, on raw sockets (HTTP/1.1 with keep-alive, and RFC 6455 framing), with
 * service-center's documented behaviour (docs/openapi/v4.yaml; server/service/validator, server/service/disco,
 * datasource/etcd of apache/servicecomb-service-center):
 *
 * <ul>
 *   <li>microservices: {@code POST /v4/{project}/registry/microservices} validated by service-center's own rules
 *       (serviceName and appId {@code nameRegex}, version {@code x[.y[.z[.w]]]} with numbers 0–32767, environment
 *       one of the four or empty: 400 error 400001), 400010 when it exists; {@code GET .../existence
 *       ?type=microservice} (400012 when unknown); {@code GET .../microservices};</li>
 *   <li>instances: register (400012 for an unknown microservice; a known instance id is renewed and kept
 *       unchanged, as service-center's "reuse instance"; the health check's interval and times raised to the
 *       server's minimums; the instance's version set to its microservice's), get, list, delete and heartbeat
 *       (400017 for an unknown instance), properties update; an instance expires interval × (times + 1) after its
 *       last heartbeat;</li>
 *   <li>find: {@code GET .../instances?appId=&serviceName=&env=&rev=} with {@code X-ConsumerId} (400012 for an
 *       unknown consumer or provider; the consumer's environment wins; the dependency is recorded), every version,
 *       {@code X-Resource-Revision}, and {@code 304} for an unchanged revision;</li>
 *   <li>the watch: {@code GET .../microservices/{consumerId}/watcher} upgraded to a websocket, pushing
 *       {@code {action, key, instance}} for every CREATE, UPDATE and DELETE (expiry included) of a provider the
 *       consumer found; an unknown consumer gets the text {@code service does not exist} and a closed socket;</li>
 *   <li>RBAC when given credentials: {@code POST /v4/token}, then {@code Authorization: Bearer} or 401.</li>
 * </ul>
 *
 * <p>{@link #restart()} is a server that comes back without its data: connections drop and everything is
 * forgotten. {@link #stop()}/{@link #start()} are an outage that keeps the data (leases keep running, as in the
 * etcd behind a real server). Simpler than service-center: dependencies are recorded at once (the server queues
 * them), revisions are counters, one domain and project, no schemas, tags or rules. Threads are named
 * {@code sc-standin-*}.
 */
final class ServiceCenterStandIn implements AutoCloseable, BeforeAllCallback, AfterAllCallback {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern NAME = ServiceCombFormat.NAME;
    private static final Pattern VERSION = Pattern.compile("^\\d+(\\.\\d+){0,3}$");
    private static final Pattern INSTANCE_ID = Pattern.compile("^[A-Za-z0-9_.-]*$");
    private static final Set<String> ENVIRONMENTS = Set.of("", "development", "testing", "acceptance", "production");
    private static final String WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private final int minInterval;
    private final int minTimes;
    private final String user;
    private final String password;
    private final SSLContext tls;
    private final ScheduledExecutorService timer = DaemonThreadFactory.scheduler("sc-standin-timer");
    private final ExecutorService connections = Executors.newCachedThreadPool(
            new DaemonThreadFactory("sc-standin-conn"));
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong notModified = new AtomicLong();
    private final Map<String, AtomicLong> heartbeats = new ConcurrentHashMap<>();
    private ServerSocket server; // guarded by this
    private volatile boolean running;
    private int port;

    // State, guarded by lock.
    private final Object lock = new Object();
    private long epoch = 1;
    private final Map<String, ObjectNode> services = new LinkedHashMap<>();
    private final Map<String, Map<String, Instance>> instances = new HashMap<>();
    private final Map<String, Set<String>> dependencies = new HashMap<>();
    private final Map<String, List<WebSocketConnection>> watchers = new HashMap<>();
    private final Map<String, Long> revisions = new HashMap<>();
    private final Set<String> tokens = new HashSet<>();

    private ServiceCenterStandIn(Builder b) {
        this.minInterval = b.minInterval;
        this.minTimes = b.minTimes;
        this.user = b.user;
        this.password = b.password;
        this.tls = b.tls;
        timer.scheduleWithFixedDelay(this::expire, 50, 50, TimeUnit.MILLISECONDS);
    }

    static Builder builder() {
        return new Builder();
    }

    static final class Builder {
        private int minInterval = 5;
        private int minTimes = 3;
        private String user;
        private String password;
        private SSLContext tls;

        /** Serves HTTPS and WSS with this context's key. */
        Builder tls(SSLContext context) {
            this.tls = context;
            return this;
        }

        /** The server's {@code registry.instance.minInterval} and {@code minTimes} (5 s and 3 by default). */
        Builder minimums(int interval, int times) {
            this.minInterval = interval;
            this.minTimes = times;
            return this;
        }

        /** Turns RBAC on with one account. */
        Builder account(String user, String password) {
            this.user = user;
            this.password = password;
            return this;
        }

        ServiceCenterStandIn build() {
            return new ServiceCenterStandIn(this);
        }
    }

    private static final class Instance {
        final ObjectNode json;
        final long ttlNanos;
        long expiresAt;

        Instance(ObjectNode json, long ttlNanos) {
            this.json = json;
            this.ttlNanos = ttlNanos;
            this.expiresAt = System.nanoTime() + ttlNanos;
        }
    }

    // --- lifecycle -------------------------------------------------------------------------------------------

    @Override
    public void beforeAll(ExtensionContext context) {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    /** Listens (again, on the same port after a {@link #stop()}). */
    synchronized ServiceCenterStandIn start() {
        try {
            ServerSocket s = tls == null ? new ServerSocket() : tls.getServerSocketFactory().createServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 50);
            server = s;
            port = s.getLocalPort();
            running = true;
            Thread accept = new Thread(() -> accept(s), "sc-standin-accept");
            accept.setDaemon(true);
            accept.start();
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An outage: stops listening and drops every connection; the data (and its leases) stay. */
    synchronized void stop() {
        running = false; // a connection accepted or a request read just now is dropped too
        if (server != null) {
            try {
                server.close();
            } catch (IOException e) {
                // closing
            }
            server = null;
        }
        dropConnections();
    }

    /** A server that comes back without its data: connections drop, everything is forgotten. */
    void restart() {
        synchronized (lock) {
            services.clear();
            instances.clear();
            dependencies.clear();
            revisions.clear();
            tokens.clear();
            epoch++;
        }
        dropConnections();
    }

    private void dropConnections() {
        for (Socket socket : open) {
            try {
                socket.close();
            } catch (IOException e) {
                // dropping
            }
        }
        open.clear();
        synchronized (lock) {
            watchers.clear();
        }
    }

    @Override
    public void close() {
        stop();
        timer.shutdownNow();
        connections.shutdownNow();
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    static boolean isServerThread(Thread t) {
        return t.getName().startsWith("sc-standin-");
    }

    // --- what tests look at ----------------------------------------------------------------------------------

    /** Requests served so far. */
    long requests() {
        return requests.get();
    }

    /** Connections open now (HTTP keep-alive and websockets), as the server counts them. */
    int openConnections() {
        return open.size();
    }

    /** Find requests answered 304 Not Modified so far. */
    long notModified() {
        return notModified.get();
    }

    /** Heartbeats received for an instance id. */
    long heartbeats(String instanceId) {
        AtomicLong n = heartbeats.get(instanceId);
        return n == null ? 0 : n.get();
    }

    /** The stored microservice with that name (and version, when given), or null. */
    ObjectNode microservice(String name, String version) {
        synchronized (lock) {
            for (ObjectNode s : services.values()) {
                if (s.path("serviceName").asText().equals(name)
                        && (version == null || s.path("version").asText().equals(version))) {
                    return s.deepCopy();
                }
            }
            return null;
        }
    }

    /** The stored instance with that id, in any microservice, or null. */
    ObjectNode instance(String instanceId) {
        synchronized (lock) {
            for (Map<String, Instance> of : instances.values()) {
                Instance i = of.get(instanceId);
                if (i != null) {
                    return i.json.deepCopy();
                }
            }
            return null;
        }
    }

    /** Whether a consumer id is watching (a websocket is open). */
    boolean watched() {
        synchronized (lock) {
            return watchers.values().stream().anyMatch(l -> !l.isEmpty());
        }
    }

    /** Deletes an instance behind its owner's back, as an operator would. */
    void delete(String instanceId) {
        synchronized (lock) {
            for (Map.Entry<String, Map<String, Instance>> e : instances.entrySet()) {
                Instance i = e.getValue().remove(instanceId);
                if (i != null) {
                    changed(e.getKey(), "DELETE", i.json);
                }
            }
        }
    }

    /**
     * Registers a microservice and an instance as another client wrote them (hand-written JSON), with a TTL.
     *
     * @return the instance as stored
     */
    ObjectNode plant(String microserviceJson, String instanceJson, long ttlSeconds) throws IOException {
        synchronized (lock) {
            ObjectNode service = (ObjectNode) JSON.readTree(microserviceJson);
            String serviceId = findService(text(service, "environment"), text(service, "appId"),
                    text(service, "serviceName"), text(service, "version"));
            if (serviceId == null) {
                serviceId = UUID.randomUUID().toString().replace("-", "");
                service.put("serviceId", serviceId);
                services.put(serviceId, service);
            }
            ObjectNode instance = (ObjectNode) JSON.readTree(instanceJson);
            instance.put("serviceId", serviceId);
            instances.computeIfAbsent(serviceId, k -> new LinkedHashMap<>()).put(text(instance, "instanceId"),
                    new Instance(instance, TimeUnit.SECONDS.toNanos(ttlSeconds)));
            changed(serviceId, "CREATE", instance);
            return instance.deepCopy();
        }
    }

    // --- HTTP ------------------------------------------------------------------------------------------------

    private void accept(ServerSocket s) {
        while (!s.isClosed()) {
            try {
                Socket socket = s.accept();
                // Go's net package turns Nagle off on every TCP connection, service-center's included: with it on,
                // each answer waited for the client's delayed ACK (up to 40 ms) between its head and its body.
                socket.setTcpNoDelay(true);
                open.add(socket);
                if (!running) {
                    socket.close();
                    continue;
                }
                connections.execute(() -> serve(socket));
            } catch (IOException e) {
                return; // stopped
            } catch (java.util.concurrent.RejectedExecutionException e) {
                return; // closed
            }
        }
    }

    private static final class Request {
        String method;
        String path;
        Map<String, String> query = new HashMap<>();
        Map<String, String> headers = new HashMap<>();
        byte[] body = new byte[0];

        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        JsonNode json() throws IOException {
            return body.length == 0 ? JSON.createObjectNode() : JSON.readTree(body);
        }
    }

    private static final class Response {
        final int status;
        final String body;
        final Map<String, String> headers = new LinkedHashMap<>();

        Response(int status, String body) {
            this.status = status;
            this.body = body;
        }
    }

    private void serve(Socket socket) {
        try (socket; InputStream in = new BufferedInputStream(socket.getInputStream());
             OutputStream out = socket.getOutputStream()) {
            while (true) {
                Request request = read(in);
                if (request == null || !running) {
                    return;
                }
                requests.incrementAndGet();
                if ("websocket".equalsIgnoreCase(request.header("upgrade"))) {
                    upgrade(request, socket, in, out);
                    return;
                }
                Response response;
                try {
                    response = route(request);
                } catch (IOException | RuntimeException e) {
                    response = error(400, ServiceCombClient.INVALID_PARAMS, "Invalid request: " + e.getMessage());
                }
                write(out, response);
            }
        } catch (IOException e) {
            // connection closed or dropped
        } finally {
            open.remove(socket);
        }
    }

    private static Request read(InputStream in) throws IOException {
        String line = line(in);
        if (line == null || line.isEmpty()) {
            return null;
        }
        String[] parts = line.split(" ");
        Request r = new Request();
        r.method = parts[0];
        String target = parts[1];
        int q = target.indexOf('?');
        r.path = URLDecoder.decode(q < 0 ? target : target.substring(0, q), StandardCharsets.UTF_8);
        if (q >= 0) {
            for (String pair : target.substring(q + 1).split("&")) {
                int eq = pair.indexOf('=');
                String k = eq < 0 ? pair : pair.substring(0, eq);
                String v = eq < 0 ? "" : pair.substring(eq + 1);
                r.query.put(URLDecoder.decode(k, StandardCharsets.UTF_8), URLDecoder.decode(v, StandardCharsets.UTF_8));
            }
        }
        String h;
        while ((h = line(in)) != null && !h.isEmpty()) {
            int colon = h.indexOf(':');
            r.headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
        }
        String length = r.header("content-length");
        if (length != null) {
            r.body = in.readNBytes(Integer.parseInt(length));
        }
        return r;
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                String s = buf.toString(StandardCharsets.ISO_8859_1);
                return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
            }
            buf.write(c);
        }
        return buf.size() == 0 ? null : buf.toString(StandardCharsets.ISO_8859_1);
    }

    private static void write(OutputStream out, Response r) throws IOException {
        byte[] body = r.body.getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder("HTTP/1.1 ").append(r.status).append(' ')
                .append(r.status == 200 ? "OK" : r.status == 304 ? "Not Modified" : "Error").append("\r\n");
        r.headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
        if (r.status != 304) {
            head.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        }
        head.append("\r\n");
        ByteArrayOutputStream answer = new ByteArrayOutputStream(head.length() + body.length);
        answer.writeBytes(head.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (r.status != 304) {
            answer.writeBytes(body);
        }
        out.write(answer.toByteArray()); // one write, as Go's buffered response writer does
        out.flush();
    }

    private static Response ok(JsonNode body) {
        return new Response(200, body.toString());
    }

    /** service-center's error body; the code is a string in JSON, as cari's errsvc writes it. */
    private static Response error(int status, int code, String message) {
        ObjectNode body = JSON.createObjectNode();
        body.put("errorCode", String.valueOf(code));
        body.put("errorMessage", message);
        body.put("detail", message);
        return new Response(status, body.toString());
    }

    private static final Pattern ROUTE = Pattern.compile("/v4/([^/]+)/registry(/.*)");

    private Response route(Request r) throws IOException {
        if (r.path.equals("/v4/token") && r.method.equals("POST")) {
            return token(r);
        }
        if (user != null) {
            String auth = r.header("authorization");
            boolean known;
            synchronized (lock) {
                known = auth != null && auth.startsWith("Bearer ") && tokens.contains(auth.substring(7));
            }
            if (!known) {
                return error(401, 401002, "Request unauthorized");
            }
        }
        Matcher m = ROUTE.matcher(r.path);
        if (!m.matches()) {
            return error(404, 404, "Not found: " + r.path);
        }
        String[] p = m.group(2).substring(1).split("/");
        synchronized (lock) {
            if (p.length == 1 && p[0].equals("existence") && r.method.equals("GET")) {
                return existence(r);
            }
            if (p.length == 1 && p[0].equals("microservices")) {
                return r.method.equals("POST") ? createService(r) : listServices();
            }
            if (p.length == 1 && p[0].equals("instances") && r.method.equals("GET")) {
                return find(r);
            }
            if (p.length >= 2 && p[0].equals("microservices")) {
                String serviceId = p[1];
                if (p.length == 2 && r.method.equals("GET")) {
                    ObjectNode s = services.get(serviceId);
                    return s == null ? serviceNotExists() : ok(JSON.createObjectNode().set("service", s));
                }
                if (p.length == 3 && p[2].equals("instances")) {
                    return r.method.equals("POST") ? registerInstance(serviceId, r) : listInstances(serviceId);
                }
                if (p.length >= 4 && p[2].equals("instances")) {
                    return instanceCall(serviceId, p[3], p.length == 5 ? p[4] : "", r);
                }
            }
        }
        return error(404, 404, "Not found: " + r.method + " " + r.path);
    }

    private Response token(Request r) throws IOException {
        JsonNode account = r.json();
        if (user == null || !user.equals(text(account, "name")) || !password.equals(text(account, "password"))) {
            return error(401, 401202, "Wrong user name or password");
        }
        String token = UUID.randomUUID().toString();
        synchronized (lock) {
            tokens.add(token);
        }
        return ok(JSON.createObjectNode().put("token", token));
    }

    /** Forgets every issued token: clients must log in again, as after the token's expiry. */
    void expireTokens() {
        synchronized (lock) {
            tokens.clear();
        }
    }

    private static Response serviceNotExists() {
        return error(400, ServiceCombClient.SERVICE_NOT_EXISTS, "Micro-service does not exist.");
    }

    private static Response instanceNotExists() {
        return error(400, ServiceCombClient.INSTANCE_NOT_EXISTS, "Instance does not exist.");
    }

    private Response existence(Request r) {
        if (!"microservice".equals(r.query.get("type"))) {
            return error(400, ServiceCombClient.INVALID_PARAMS, "Only micro-service and schema can be used as type.");
        }
        String invalid = invalidKey(q(r, "env"), q(r, "appId"), q(r, "serviceName"), q(r, "version"));
        if (invalid != null) {
            return error(400, ServiceCombClient.INVALID_PARAMS, invalid);
        }
        String id = findService(q(r, "env"), q(r, "appId"), q(r, "serviceName"), q(r, "version"));
        return id == null ? serviceNotExists() : ok(JSON.createObjectNode().put("serviceId", id));
    }

    /** service-center's MicroServiceKeyValidator, with its messages' gist. */
    private static String invalidKey(String env, String app, String name, String version) {
        if (!ENVIRONMENTS.contains(env)) {
            return "Invalid environment '" + env + "'";
        }
        if (app.isEmpty() || app.length() > 160 || !NAME.matcher(app).matches()) {
            return "AppId '" + app + "' does not match rule";
        }
        if (name.isEmpty() || name.length() > 128 || !NAME.matcher(name).matches()) {
            return "ServiceName '" + name + "' does not match rule";
        }
        if (version.isEmpty() || version.length() > 64 || !VERSION.matcher(version).matches()) {
            return "Version '" + version + "' does not match rule: the form x[.y[.z]] where x y and z are 0-32767 range";
        }
        for (String part : version.split("\\.")) {
            if (part.length() > 5 || Integer.parseInt(part) > Short.MAX_VALUE) {
                return "Version '" + version + "' does not match rule: numbers are 0-32767";
            }
        }
        return null;
    }

    private String findService(String env, String app, String name, String version) {
        for (Map.Entry<String, ObjectNode> e : services.entrySet()) {
            ObjectNode s = e.getValue();
            if (text(s, "environment").equals(env) && text(s, "appId").equals(app)
                    && text(s, "serviceName").equals(name) && text(s, "version").equals(version)) {
                return e.getKey();
            }
        }
        return null;
    }

    private Response createService(Request r) throws IOException {
        JsonNode service = r.json().get("service");
        if (service == null || !service.isObject()) {
            return error(400, ServiceCombClient.INVALID_PARAMS, "Request body is empty");
        }
        String env = text(service, "environment");
        String invalid = invalidKey(env, text(service, "appId"), text(service, "serviceName"),
                text(service, "version"));
        if (invalid != null) {
            return error(400, ServiceCombClient.INVALID_PARAMS, invalid);
        }
        if (findService(env, text(service, "appId"), text(service, "serviceName"), text(service, "version")) != null) {
            return error(400, ServiceCombClient.SERVICE_ALREADY_EXISTS, "Micro-service already exists.");
        }
        String id = UUID.randomUUID().toString().replace("-", "");
        ObjectNode stored = ((ObjectNode) service).deepCopy();
        stored.put("serviceId", id);
        if (!stored.has("status")) {
            stored.put("status", "UP");
        }
        services.put(id, stored);
        return ok(JSON.createObjectNode().put("serviceId", id));
    }

    private Response listServices() {
        ArrayNode list = JSON.createArrayNode();
        services.values().forEach(list::add);
        return ok(JSON.createObjectNode().set("services", list));
    }

    private Response registerInstance(String serviceId, Request r) throws IOException {
        ObjectNode service = services.get(serviceId);
        JsonNode body = r.json().get("instance");
        if (body == null || !body.isObject()) {
            return error(400, ServiceCombClient.INVALID_PARAMS, "Request body is empty");
        }
        ObjectNode instance = ((ObjectNode) body).deepCopy();
        String id = text(instance, "instanceId");
        String host = text(instance, "hostName");
        if (id.length() > 64 || !INSTANCE_ID.matcher(id).matches()) {
            return error(400, ServiceCombClient.INVALID_PARAMS, "InstanceId '" + id + "' does not match rule");
        }
        if (host.isEmpty() || host.length() > 64 || host.matches(".*\\s.*")) {
            return error(400, ServiceCombClient.INVALID_PARAMS, "HostName '" + host + "' does not match rule");
        }
        for (JsonNode e : instance.path("endpoints")) {
            if (!e.asText().matches("\\S+")) {
                return error(400, ServiceCombClient.INVALID_PARAMS, "Endpoints does not match rule");
            }
        }
        if (service == null) {
            return error(400, ServiceCombClient.SERVICE_NOT_EXISTS, "Invalid 'serviceID' in request body.");
        }
        Map<String, Instance> of = instances.computeIfAbsent(serviceId, k -> new LinkedHashMap<>());
        if (!id.isEmpty() && of.containsKey(id)) {
            Instance known = of.get(id); // "reuse instance": a heartbeat, the record unchanged
            known.expiresAt = System.nanoTime() + known.ttlNanos;
            return ok(JSON.createObjectNode().put("instanceId", id));
        }
        if (id.isEmpty()) {
            id = UUID.randomUUID().toString().replace("-", "");
            instance.put("instanceId", id);
        }
        instance.put("serviceId", serviceId);
        if (text(instance, "status").isEmpty()) {
            instance.put("status", "UP");
        }
        ObjectNode health = instance.get("healthCheck") instanceof ObjectNode ? (ObjectNode) instance.get("healthCheck")
                : instance.putObject("healthCheck");
        if (!health.has("mode")) {
            health.put("mode", "push");
            health.put("interval", 30);
            health.put("times", 3);
        }
        health.put("interval", Math.max(health.path("interval").asInt(), minInterval));
        health.put("times", Math.max(health.path("times").asInt(), minTimes));
        instance.put("version", text(service, "version"));
        String now = String.valueOf(System.currentTimeMillis() / 1000);
        instance.put("timestamp", now);
        instance.put("modTimestamp", now);
        long ttl = TimeUnit.SECONDS.toNanos((long) health.get("interval").asInt() * (health.get("times").asInt() + 1));
        of.put(id, new Instance(instance, ttl));
        changed(serviceId, "CREATE", instance);
        return ok(JSON.createObjectNode().put("instanceId", id));
    }

    private Response listInstances(String serviceId) {
        if (!services.containsKey(serviceId)) {
            return serviceNotExists();
        }
        ArrayNode list = JSON.createArrayNode();
        instances.getOrDefault(serviceId, Map.of()).values().forEach(i -> list.add(i.json));
        return ok(JSON.createObjectNode().set("instances", list));
    }

    private Response instanceCall(String serviceId, String instanceId, String action, Request r) throws IOException {
        Instance instance = instances.getOrDefault(serviceId, Map.of()).get(instanceId);
        if (instance == null) {
            return instanceNotExists();
        }
        if (action.isEmpty() && r.method.equals("GET")) {
            return ok(JSON.createObjectNode().set("instance", instance.json));
        }
        if (action.isEmpty() && r.method.equals("DELETE")) {
            instances.get(serviceId).remove(instanceId);
            changed(serviceId, "DELETE", instance.json);
            return ok(JSON.createObjectNode());
        }
        if (action.equals("heartbeat") && r.method.equals("PUT")) {
            instance.expiresAt = System.nanoTime() + instance.ttlNanos;
            heartbeats.computeIfAbsent(instanceId, k -> new AtomicLong()).incrementAndGet();
            return ok(JSON.createObjectNode());
        }
        if (action.equals("properties") && r.method.equals("PUT")) {
            JsonNode properties = r.json().get("properties");
            instance.json.set("properties", properties == null ? JSON.createObjectNode() : properties);
            instance.json.put("modTimestamp", String.valueOf(System.currentTimeMillis() / 1000));
            changed(serviceId, "UPDATE", instance.json);
            return ok(JSON.createObjectNode());
        }
        return error(404, 404, "Not found");
    }

    private Response find(Request r) {
        String app = q(r, "appId");
        String name = q(r, "serviceName");
        String env = q(r, "env");
        String consumer = r.header("x-consumerid");
        if (consumer != null && !consumer.isEmpty()) {
            ObjectNode c = services.get(consumer);
            if (c == null) {
                return error(400, ServiceCombClient.SERVICE_NOT_EXISTS, "Consumer[" + consumer + "] does not exist.");
            }
            env = text(c, "environment");
        }
        if (app.isEmpty() || !NAME.matcher(app).matches() || name.isEmpty()
                || !ServiceCombFormat.FIND_NAME.matcher(name).matches()) {
            return error(400, ServiceCombClient.INVALID_PARAMS, "Invalid find parameters");
        }
        String providerKey = env + "/" + app + "/" + name;
        List<String> ids = new ArrayList<>();
        for (Map.Entry<String, ObjectNode> e : services.entrySet()) {
            if (key(e.getValue()).equals(providerKey)) {
                ids.add(e.getKey());
            }
        }
        if (ids.isEmpty()) {
            return error(400, ServiceCombClient.SERVICE_NOT_EXISTS, "Provider[" + providerKey + "] does not exist.");
        }
        if (consumer != null && !consumer.isEmpty()) {
            dependencies.computeIfAbsent(consumer, k -> new HashSet<>()).add(providerKey);
        }
        String revision = epoch + "." + revisions.getOrDefault(providerKey, 0L);
        String asked = r.query.getOrDefault("rev", r.header("x-resource-revision"));
        if (revision.equals(asked)) {
            this.notModified.incrementAndGet();
            Response notModified = new Response(304, "");
            notModified.headers.put(ServiceCombClient.REVISION_HEADER, revision);
            return notModified;
        }
        ArrayNode list = JSON.createArrayNode();
        for (String id : ids) {
            instances.getOrDefault(id, Map.of()).values().forEach(i -> list.add(i.json));
        }
        Response found = ok(JSON.createObjectNode().set("instances", list));
        found.headers.put(ServiceCombClient.REVISION_HEADER, revision);
        return found;
    }

    private static String key(JsonNode service) {
        return text(service, "environment") + "/" + text(service, "appId") + "/" + text(service, "serviceName");
    }

    /** Bumps the provider's revision and pushes the event to every consumer that found it. Under lock. */
    private void changed(String serviceId, String action, ObjectNode instance) {
        ObjectNode service = services.get(serviceId);
        if (service == null) {
            return;
        }
        String providerKey = key(service);
        revisions.merge(providerKey, 1L, Long::sum);
        ObjectNode event = JSON.createObjectNode();
        event.putObject("response").put("errCode", 0).put("errMessage", "Watch instance successfully.");
        event.put("action", action);
        ObjectNode key = event.putObject("key");
        key.put("environment", text(service, "environment"));
        key.put("appId", text(service, "appId"));
        key.put("serviceName", text(service, "serviceName"));
        key.put("version", text(service, "version"));
        event.set("instance", instance.deepCopy());
        String message = event.toString();
        for (Map.Entry<String, Set<String>> dep : dependencies.entrySet()) {
            if (dep.getValue().contains(providerKey)) {
                for (WebSocketConnection ws : watchers.getOrDefault(dep.getKey(), List.of())) {
                    ws.send(message);
                }
            }
        }
    }

    private void expire() {
        long now = System.nanoTime();
        synchronized (lock) {
            for (Map.Entry<String, Map<String, Instance>> e : instances.entrySet()) {
                Iterator<Instance> it = e.getValue().values().iterator();
                while (it.hasNext()) {
                    Instance i = it.next();
                    if (now - i.expiresAt > 0) {
                        it.remove();
                        changed(e.getKey(), "DELETE", i.json);
                    }
                }
            }
        }
    }

    private static String q(Request r, String name) {
        return r.query.getOrDefault(name, "");
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? "" : v.asText();
    }

    // --- websocket -------------------------------------------------------------------------------------------

    private static final Pattern WATCHER = Pattern.compile("/v4/[^/]+/registry/microservices/([^/]+)/watcher");

    private void upgrade(Request r, Socket socket, InputStream in, OutputStream out) throws IOException {
        Matcher m = WATCHER.matcher(r.path);
        if (!m.matches() || (user != null && !authorized(r))) {
            write(out, error(m.matches() ? 401 : 404, 404, "Not found"));
            return;
        }
        String accept;
        try {
            accept = Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-1")
                    .digest((r.header("sec-websocket-key") + WS_GUID).getBytes(StandardCharsets.ISO_8859_1)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        out.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: " + accept + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
        String consumer = m.group(1);
        WebSocketConnection ws = new WebSocketConnection(socket, out);
        synchronized (lock) {
            if (!services.containsKey(consumer)) {
                ws.send("service does not exist"); // service-center's SendEstablishError, then it returns
                ws.close();
                return;
            }
            watchers.computeIfAbsent(consumer, k -> new ArrayList<>()).add(ws);
        }
        try {
            ws.readUntilClosed(in);
        } finally {
            synchronized (lock) {
                List<WebSocketConnection> list = watchers.get(consumer);
                if (list != null) {
                    list.remove(ws);
                }
            }
        }
    }

    private boolean authorized(Request r) {
        String auth = r.header("authorization");
        synchronized (lock) {
            return auth != null && auth.startsWith("Bearer ") && tokens.contains(auth.substring(7));
        }
    }

    /** One server side of a websocket: unmasked frames out, masked frames in (RFC 6455). */
    private static final class WebSocketConnection {
        private final Socket socket;
        private final OutputStream out;

        WebSocketConnection(Socket socket, OutputStream out) {
            this.socket = socket;
            this.out = out;
        }

        synchronized void send(String text) {
            frame(0x1, text.getBytes(StandardCharsets.UTF_8));
        }

        synchronized void close() {
            frame(0x8, new byte[] {0x03, (byte) 0xE8});
            try {
                socket.close();
            } catch (IOException e) {
                // closing
            }
        }

        private void frame(int opcode, byte[] payload) {
            try {
                ByteArrayOutputStream f = new ByteArrayOutputStream();
                f.write(0x80 | opcode);
                if (payload.length < 126) {
                    f.write(payload.length);
                } else if (payload.length < 65536) {
                    f.write(126);
                    f.write(payload.length >>> 8);
                    f.write(payload.length & 0xff);
                } else {
                    f.write(127);
                    for (int i = 7; i >= 0; i--) {
                        f.write((int) ((long) payload.length >>> (8 * i)) & 0xff);
                    }
                }
                f.write(payload);
                out.write(f.toByteArray());
                out.flush();
            } catch (IOException e) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // dropped
                }
            }
        }

        void readUntilClosed(InputStream in) throws IOException {
            try {
                while (true) {
                    int b0 = in.read();
                    int b1 = in.read();
                    if (b0 < 0 || b1 < 0) {
                        return;
                    }
                    long length = b1 & 0x7f;
                    if (length == 126) {
                        length = (in.read() << 8) | in.read();
                    } else if (length == 127) {
                        length = 0;
                        for (int i = 0; i < 8; i++) {
                            length = (length << 8) | in.read();
                        }
                    }
                    byte[] mask = (b1 & 0x80) != 0 ? in.readNBytes(4) : null;
                    byte[] payload = in.readNBytes((int) length);
                    if (payload.length < length) {
                        throw new EOFException();
                    }
                    if (mask != null) {
                        for (int i = 0; i < payload.length; i++) {
                            payload[i] ^= mask[i % 4];
                        }
                    }
                    int opcode = b0 & 0x0f;
                    if (opcode == 0x8) {
                        synchronized (this) {
                            frame(0x8, payload);
                        }
                        return;
                    }
                    if (opcode == 0x9) {
                        synchronized (this) {
                            frame(0xA, payload);
                        }
                    }
                }
            } catch (SocketException e) {
                // dropped
            }
        }
    }
}
