package io.roster.consul;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Durations;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * <b>A stand-in for a Consul agent, for tests only.</b> No Consul binary can be installed on the build machines, so
 * this serves, in the test JVM on a free loopback port, exactly the HTTP endpoints {@code registry-consul} uses,
 * with Consul's documented semantics (api-docs: agent/service, agent/check, health, catalog, features/blocking,
 * features/filtering, acl) and the answers of the real agent where tests need them:
 *
 * <ul>
 *   <li>{@code PUT /v1/agent/service/register}: Name required, ID defaulting to Name, Meta validated as
 *       {@code structs.ValidateServiceMetadata} does (400), TTL and TCP checks (CheckID defaulting to
 *       {@code service:<id>}), {@code lan_ipv4}/{@code wan_ipv4} (or {@code _ipv6}) tagged addresses added from the
 *       service address; re-registering keeps the status of checks that already exist, as the agent does.</li>
 *   <li>{@code PUT /v1/agent/check/update/<id>} ({@code {"Status","Output"}}) and
 *       {@code PUT /v1/agent/service/deregister/<id>}, answering an unknown check or service as the chosen
 *       {@link Dialect} does, with and without ACLs.</li>
 *   <li>{@code GET /v1/health/service/<name>}: entries {@code {Node, Service, Checks}} (with the node's
 *       {@code serfHealth} check), {@code passing} filtering, {@code dc} (only {@code dc1} exists).</li>
 *   <li>{@code GET /v1/health/state/any} (with a {@code filter} of the form {@code ServiceName == "a" or ...}) and
 *       {@code GET /v1/catalog/services} (Consul's own {@code consul} service included).</li>
 *   <li>Indexes as Consul keeps them: one raft index bumped by every write, and per table (services, checks) and
 *       per service name the index of its last change; {@code X-Consul-Index} is the one the endpoint reads
 *       (a service, or the catalog's when the service does not exist; the checks table; the services table).
 *       Blocking queries: with {@code index} &gt; 0 the answer is held until that index moves past it or
 *       {@code wait} (default 5 min, at most 10 min) plus a random jitter of up to wait/16 ends.</li>
 *   <li>Checks: TTL checks start critical and turn critical again ("TTL expired") when not updated within the TTL;
 *       TCP checks connect every Interval (first run after a random stagger) and start critical; a service whose
 *       check has been critical longer than {@code DeregisterCriticalServiceAfter} (at least a minimum, one minute
 *       in Consul) is removed by a reaper running every reap interval (30 s in Consul).</li>
 *   <li>ACLs (when enabled): the token from {@code X-Consul-Token} (or {@code Authorization: Bearer}); an unknown
 *       token gets 403 "ACL not found"; writes need a write token (else 403 "Permission denied"); reads of a token
 *       without {@code service:read} (anonymous, or a token of {@link Builder#acl(Set, Set, Set)}'s third set) are
 *       filtered silently, with {@code X-Consul-Results-Filtered-By-ACLs: true} from Consul 1.11 on only;
 *       {@code POST /v1/internal/acl/authorize} tells what a token may do (401 "ACL support disabled" without
 *       ACLs).</li>
 *   <li>{@code limits.http_max_conns_per_client}: every connection is accepted by a front door that counts open
 *       connections per client IP and, past the limit, answers as Consul does (hashicorp/go-connlimit): HTTP 429
 *       "Your IP is issuing too many concurrent connections" and close.</li>
 *   <li>{@link #restart()} is an agent that comes back without its registrations (a dev agent, or a replaced
 *       node): connections drop, everything is forgotten and the index starts low again (it goes backwards).
 *       {@link #restartWithState()} is a server-mode agent restarting with its state on disk: connections drop,
 *       services and checks come back (TTL countdowns start again), the index goes on. {@link #stop()} and
 *       {@link #start()} are an outage of the HTTP interface (the agent's timers go on). {@link #hang} makes the
 *       agent accept requests and never answer them.</li>
 * </ul>
 *
 * <p>Where it is simpler than Consul: one node and one datacenter, no node-level changes, only TTL and TCP checks,
 * no anti-entropy delay between agent and servers, a re-registration always counts as a change, and the reaper's
 * interval and minimum are settable so that tests need not wait minutes. Threads are named
 * {@code consul-standin-*} (plus the JDK server's {@code HTTP-Dispatcher} and {@code idle-timeout-task}); see
 * {@link #isServerThread}.
 */
final class ConsulStandIn implements AutoCloseable, BeforeAllCallback, AfterAllCallback {
    static final String DATACENTER = "dc1";
    static final String NODE = "standin-node";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern META_KEY = Pattern.compile("[A-Za-z0-9_-]+");
    private static final Pattern FILTER_TERM = Pattern.compile(
            "\\s*ServiceName\\s*==\\s*\"((?:[^\"\\\\]|\\\\.)*)\"\\s*(or\\s+|$)");
    private static final Duration MAX_WAIT = Duration.ofMinutes(10);
    private static final String TOO_MANY = "Your IP is issuing too many concurrent connections, please rate limit"
            + " your calls\n";

    /** Which Consul's answers to give where versions differ. */
    enum Dialect {
        /**
         * Consul 1.10 and earlier. Unknown service on deregister: 500 {@code Unknown service "<id>"} with ACLs, 200
         * without. Unknown check on update: 500 {@code Unknown check "<id>"} with ACLs, 500 {@code CheckID "<id>"
         * does not have associated TTL} without. No {@code X-Consul-Results-Filtered-By-ACLs} header.
         */
        V1_10,
        /**
         * Consul 1.11 and later (PR #10894): 404 {@code Unknown service ID "<id>". Ensure that the service ID is
         * passed, not the service name.} and 404 {@code Unknown check ID "<id>". Ensure that the check ID is passed,
         * not the check name.}, with or without ACLs; filtered reads say so in a header.
         */
        CURRENT
    }

    private final Object lock = new Object();
    private final ScheduledExecutorService timer = DaemonThreadFactory.scheduler("consul-standin-timer");
    private final ExecutorService handlers = Executors.newCachedThreadPool(
            new DaemonThreadFactory("consul-standin-http"));
    private final ExecutorService pumps = Executors.newCachedThreadPool(
            new DaemonThreadFactory("consul-standin-conn"));
    private final SSLContext tls;
    private final boolean needClientAuth;
    private final Set<String> writeTokens;
    private final Set<String> readTokens;
    private final Set<String> blindTokens;
    private final Duration reapInterval;
    private final Duration minimumDeregisterAfter;
    private final int maxConnsPerClient;
    private final Dialect dialect;
    private final ScheduledFuture<?> reaper;
    private HttpServer server; // guarded by this
    private ServerSocket front; // guarded by this
    private int port;

    // Connections at the front door, guarded by themselves.
    private final Map<String, Integer> openByClient = new HashMap<>();
    private final Set<Socket> frontSockets = new HashSet<>();
    private int peakConnections;
    private int refusedConnections;

    // State, guarded by lock.
    private long index = 100;
    private long servicesIndex = 100;
    private long checksIndex = 100;
    private final Map<String, Long> serviceIndexes = new HashMap<>();
    private final Set<Integer> liveConnections = new HashSet<>(); // local ports of the relays to the server
    private boolean running;
    private boolean zeroIndex;
    private Predicate<String> hang;
    private int hanging;
    private int held;
    private final Map<String, Service> services = new LinkedHashMap<>();
    private final Map<String, Check> checks = new LinkedHashMap<>();
    private final List<Query> queries = new ArrayList<>();
    private final List<String> registrations = new ArrayList<>();
    private final List<Map.Entry<String, Long>> writes = new ArrayList<>(); // path, System.nanoTime()

    private ConsulStandIn(Builder b) {
        this.tls = b.tls;
        this.needClientAuth = b.needClientAuth;
        this.writeTokens = b.writeTokens;
        this.readTokens = b.readTokens;
        this.blindTokens = b.blindTokens;
        this.reapInterval = b.reapInterval;
        this.minimumDeregisterAfter = b.minimumDeregisterAfter;
        this.maxConnsPerClient = b.maxConnsPerClient;
        this.dialect = b.dialect;
        this.reaper = timer.scheduleWithFixedDelay(this::reap, reapInterval.toMillis(), reapInterval.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    static Builder builder() {
        return new Builder();
    }

    /** Settings of a stand-in. */
    static final class Builder {
        private SSLContext tls;
        private boolean needClientAuth;
        private Set<String> writeTokens;
        private Set<String> readTokens = Set.of();
        private Set<String> blindTokens = Set.of();
        private Duration reapInterval = Duration.ofSeconds(30);
        private Duration minimumDeregisterAfter = Duration.ofMinutes(1);
        private int maxConnsPerClient;
        private Dialect dialect = Dialect.CURRENT;

        /** Turns ACLs on: default deny, the given tokens may write (and read), or only read. */
        Builder acl(Set<String> write, Set<String> read) {
            return acl(write, read, Set.of());
        }

        /** Turns ACLs on, with also tokens that exist but may not read services (only the node, say). */
        Builder acl(Set<String> write, Set<String> read, Set<String> blind) {
            this.writeTokens = Set.copyOf(write);
            this.readTokens = Set.copyOf(read);
            this.blindTokens = Set.copyOf(blind);
            return this;
        }

        /** Serves HTTPS with this context; with client auth, a client certificate is required. */
        Builder tls(SSLContext context, boolean needClientAuth) {
            this.tls = context;
            this.needClientAuth = needClientAuth;
            return this;
        }

        /** The reaper of critical services: how often it runs and the least DeregisterCriticalServiceAfter. */
        Builder reaper(Duration interval, Duration minimum) {
            this.reapInterval = interval;
            this.minimumDeregisterAfter = minimum;
            return this;
        }

        /** Consul's {@code limits.http_max_conns_per_client} (200 in Consul); 0, the default here, for none. */
        Builder maxConnsPerClient(int limit) {
            this.maxConnsPerClient = limit;
            return this;
        }

        /** Answers as this Consul version does (default {@link Dialect#CURRENT}). */
        Builder dialect(Dialect dialect) {
            this.dialect = dialect;
            return this;
        }

        /** A stand-in to register as a JUnit extension: started before the test class, closed after it. */
        ConsulStandIn build() {
            return new ConsulStandIn(this);
        }

        /** A stand-in started now. */
        ConsulStandIn start() {
            ConsulStandIn standIn = build();
            standIn.start();
            return standIn;
        }
    }

    /** Threads of the stand-in and of the JDK HTTP server under it, which may outlive a registry. */
    static boolean isServerThread(Thread t) {
        String n = t.getName();
        return n.startsWith("consul-standin-") || n.equals("HTTP-Dispatcher") || n.equals("idle-timeout-task")
                || n.startsWith("server-timer");
    }

    /** The agent's address, {@code 127.0.0.1:<port>}. */
    String address() {
        return "127.0.0.1:" + port;
    }

    // ---- controls for tests ---------------------------------------------------------------------------------

    /** Starts listening (again) on the same port; the state is kept. */
    synchronized void start() {
        try {
            InetSocketAddress inside = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
            HttpServer s;
            if (tls != null) {
                HttpsServer https = HttpsServer.create(inside, 200);
                https.setHttpsConfigurator(new HttpsConfigurator(tls) {
                    @Override
                    public void configure(HttpsParameters params) {
                        SSLParameters p = getSSLContext().getDefaultSSLParameters();
                        p.setNeedClientAuth(needClientAuth);
                        params.setSSLParameters(p);
                    }
                });
                s = https;
            } else {
                s = HttpServer.create(inside, 200);
            }
            s.createContext("/", this::handle);
            s.setExecutor(handlers);
            synchronized (lock) {
                running = true;
            }
            s.start();
            server = s;
            ServerSocket door = new ServerSocket();
            door.setReuseAddress(true);
            door.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
            front = door;
            port = door.getLocalPort();
            int inner = s.getAddress().getPort();
            pumps.execute(() -> accept(door, inner));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops listening and drops every connection, as an unreachable agent; the state is kept. */
    synchronized void stop() {
        synchronized (lock) {
            running = false;
            lock.notifyAll(); // release held blocking queries and hung requests
        }
        if (front != null) {
            try {
                front.close();
            } catch (IOException e) {
                // closing anyway
            }
            front = null;
        }
        List<Socket> all;
        synchronized (frontSockets) {
            all = new ArrayList<>(frontSockets);
        }
        all.forEach(ConsulStandIn::closeQuietly);
        if (server != null) {
            server.stop(0);
            server = null;
        }
    }

    /** An agent that comes back empty: connections drop, registrations are forgotten, the index goes backwards. */
    synchronized void restart() {
        stop();
        synchronized (lock) {
            checks.values().forEach(Check::cancel);
            checks.clear();
            services.clear();
            serviceIndexes.clear();
            index = 1;
            servicesIndex = 1;
            checksIndex = 1;
        }
        start();
    }

    /**
     * A server-mode agent restarting with its state on disk: connections drop, services and checks come back with
     * their last status, TTL countdowns start again, the index goes on.
     */
    synchronized void restartWithState() {
        stop();
        synchronized (lock) {
            checks.values().forEach(c -> {
                c.cancel();
                startCheck(c);
            });
        }
        start();
    }

    /** Holds every request that matches ({@code "PUT /v1/agent/service/register"}, say) unanswered; null: none. */
    void hang(Predicate<String> requests) {
        synchronized (lock) {
            hang = requests;
            lock.notifyAll();
        }
    }

    /** As after restoring an old snapshot: the index goes backwards, nothing else changes, nothing is dropped. */
    void rewindIndex() {
        synchronized (lock) {
            index = 1;
            servicesIndex = 1;
            checksIndex = 1;
            serviceIndexes.replaceAll((k, v) -> 1L);
        }
    }

    /** Answers every query with {@code X-Consul-Index: 0}, a Consul bug that clients must survive. */
    void zeroIndex(boolean on) {
        synchronized (lock) {
            zeroIndex = on;
        }
    }

    /** Forgets one registration behind the registry's back, as an operator or another agent might. */
    void forget(String serviceId) {
        synchronized (lock) {
            removeService(serviceId);
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    @Override
    public void close() {
        stop();
        reaper.cancel(false);
        timer.shutdownNow();
        handlers.shutdownNow();
        pumps.shutdownNow();
    }

    // ---- observations for tests -----------------------------------------------------------------------------

    /** A request as served. */
    static final class Query {
        final String path;
        final String service;
        final long index;
        final long heldMillis;
        final boolean hadToken;

        Query(String path, String service, long index, long heldMillis, boolean hadToken) {
            this.path = path;
            this.service = service;
            this.index = index;
            this.heldMillis = heldMillis;
            this.hadToken = hadToken;
        }
    }

    /** The health queries of one service, in order. */
    List<Query> queries(String service) {
        synchronized (lock) {
            List<Query> result = new ArrayList<>();
            for (Query q : queries) {
                if (service.equals(q.service)) {
                    result.add(q);
                }
            }
            return result;
        }
    }

    /** The reads of one endpoint (such as {@code /v1/health/state/any}), in order. */
    List<Query> reads(String path) {
        synchronized (lock) {
            List<Query> result = new ArrayList<>();
            for (Query q : queries) {
                if (q.path.equals(path)) {
                    result.add(q);
                }
            }
            return result;
        }
    }

    /** The number of blocking queries being held right now. */
    int heldQueries() {
        synchronized (lock) {
            return held;
        }
    }

    /** The requests {@link #hang} holds unanswered right now. */
    int hangingRequests() {
        synchronized (lock) {
            return hanging;
        }
    }

    /** The connections open at the front door now. */
    int openConnections() {
        synchronized (frontSockets) {
            return frontSockets.size();
        }
    }

    /** The most connections that were open at once. */
    int peakConnections() {
        synchronized (frontSockets) {
            return peakConnections;
        }
    }

    /** The connections refused with 429 for being over the per-client limit. */
    int refusedConnections() {
        synchronized (frontSockets) {
            return refusedConnections;
        }
    }

    /** Forgets the peak and the refusals counted so far. */
    void resetConnectionCounts() {
        synchronized (frontSockets) {
            peakConnections = frontSockets.size();
            refusedConnections = 0;
        }
    }

    /** When each write under a path prefix (such as {@code /v1/agent/check/update/}) arrived, in nanoTime. */
    List<Long> writeTimes(String pathPrefix) {
        synchronized (lock) {
            List<Long> times = new ArrayList<>();
            for (Map.Entry<String, Long> w : writes) {
                if (w.getKey().startsWith(pathPrefix)) {
                    times.add(w.getValue());
                }
            }
            return times;
        }
    }

    /** The registration bodies received, in order, as raw JSON text. */
    List<String> registrations() {
        synchronized (lock) {
            return new ArrayList<>(registrations);
        }
    }

    /** The current status of a check, or null when unknown. */
    String checkStatus(String checkId) {
        synchronized (lock) {
            Check c = checks.get(checkId);
            return c == null ? null : c.status;
        }
    }

    boolean hasService(String serviceId) {
        synchronized (lock) {
            return services.containsKey(serviceId);
        }
    }

    /** The ids of every registered service instance. */
    Set<String> serviceIds() {
        synchronized (lock) {
            return new TreeSet<>(services.keySet());
        }
    }

    // ---- the front door ---------------------------------------------------------------------------------------

    /** Accepts connections, counts them per client IP, refuses those past the limit, relays the rest. */
    private void accept(ServerSocket door, int inner) {
        while (!door.isClosed()) {
            Socket client;
            try {
                client = door.accept();
            } catch (IOException e) {
                return; // stopped
            }
            String ip = client.getInetAddress().getHostAddress();
            boolean refuse;
            synchronized (frontSockets) {
                int open = openByClient.getOrDefault(ip, 0);
                refuse = maxConnsPerClient > 0 && open >= maxConnsPerClient;
                if (refuse) {
                    refusedConnections++;
                } else {
                    openByClient.put(ip, open + 1);
                    frontSockets.add(client);
                    peakConnections = Math.max(peakConnections, frontSockets.size());
                }
            }
            try {
                pumps.execute(refuse ? () -> tooMany(client) : () -> relay(client, ip, inner));
            } catch (RuntimeException e) {
                closeQuietly(client);
                return;
            }
        }
    }

    /** What go-connlimit's HTTPConnStateFuncWithDefault429Handler writes, then close. */
    private static void tooMany(Socket client) {
        try (client) {
            byte[] body = TOO_MANY.getBytes(StandardCharsets.UTF_8);
            OutputStream out = client.getOutputStream();
            out.write(("HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: "
                    + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            client.shutdownOutput();
            // Read what the client sent, so that closing does not reset the connection before it read the 429.
            client.setSoTimeout(200);
            InputStream in = client.getInputStream();
            byte[] sink = new byte[4096];
            while (in.read(sink) >= 0) {
                // discard
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    private void relay(Socket client, String ip, int inner) {
        Socket backend = new Socket();
        try {
            backend.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), inner), 5000);
            synchronized (lock) {
                liveConnections.add(backend.getLocalPort());
            }
            pumps.execute(() -> pump(backend, client));
            pump(client, backend);
        } catch (IOException | RuntimeException e) {
            // the server stopped
        } finally {
            closeQuietly(client);
            closeQuietly(backend);
            synchronized (lock) {
                // As Consul, whose blocking queries end with their client's connection.
                liveConnections.remove(backend.getLocalPort());
                lock.notifyAll();
            }
            synchronized (frontSockets) {
                if (frontSockets.remove(client)) {
                    openByClient.merge(ip, -1, Integer::sum);
                    openByClient.remove(ip, 0);
                }
            }
        }
    }

    private static void pump(Socket from, Socket to) {
        byte[] buffer = new byte[16 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            for (int n; (n = in.read(buffer)) >= 0; ) {
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // one side went away
        } finally {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    // ---- HTTP -------------------------------------------------------------------------------------------------

    /** An answer other than 200, thrown by request handling. */
    private static final class Answer extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;

        Answer(int status, String text) {
            super(text, null, false, false);
            this.status = status;
        }
    }

    private void handle(HttpExchange ex) {
        try {
            String path = ex.getRequestURI().getPath();
            Map<String, String> query = query(ex.getRequestURI().getRawQuery());
            if (hung(ex, ex.getRequestMethod() + " " + path)) {
                return; // never answered; the connection drops when the stand-in stops
            }
            if (!ex.getRequestMethod().equals("GET")) {
                synchronized (lock) {
                    writes.add(Map.entry(path, System.nanoTime()));
                }
            }
            try {
                if (path.startsWith("/v1/health/service/")) {
                    method(ex, "GET");
                    health(ex, path.substring("/v1/health/service/".length()), query);
                } else if (path.equals("/v1/health/state/any")) {
                    method(ex, "GET");
                    checkStates(ex, query);
                } else if (path.equals("/v1/catalog/services")) {
                    method(ex, "GET");
                    catalogServices(ex, query);
                } else if (path.equals("/v1/agent/service/register")) {
                    method(ex, "PUT");
                    register(ex, query);
                } else if (path.startsWith("/v1/agent/check/update/")) {
                    method(ex, "PUT");
                    update(ex, path.substring("/v1/agent/check/update/".length()), query);
                } else if (path.startsWith("/v1/agent/service/deregister/")) {
                    method(ex, "PUT");
                    deregister(ex, path.substring("/v1/agent/service/deregister/".length()), query);
                } else if (path.equals("/v1/internal/acl/authorize")) {
                    method(ex, "POST");
                    authorizeEndpoint(ex, query);
                } else {
                    throw new Answer(404, "404 page not found");
                }
            } catch (Answer a) {
                respond(ex, a.status, a.getMessage().getBytes(StandardCharsets.UTF_8), -1);
            }
        } catch (IOException e) {
            // the client went away (or the stand-in stopped) while we answered
        } finally {
            ex.close();
        }
    }

    /** Waits while the request matches {@link #hang}; true when it must go unanswered. */
    private boolean hung(HttpExchange ex, String request) {
        synchronized (lock) {
            if (hang == null || !hang.test(request)) {
                return false;
            }
            hanging++;
            try {
                while (running && hang != null && hang.test(request) && connected(ex)) {
                    lock.wait();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                hanging--;
            }
            return true;
        }
    }

    private static void method(HttpExchange ex, String allowed) throws Answer {
        if (!ex.getRequestMethod().equals(allowed)) {
            throw new Answer(405, "method " + ex.getRequestMethod() + " not allowed");
        }
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> q = new HashMap<>();
        if (raw != null) {
            for (String pair : raw.split("&")) {
                int eq = pair.indexOf('=');
                String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
                q.put(k, eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return q;
    }

    private static void respond(HttpExchange ex, int status, byte[] body, long index) throws IOException {
        ex.getResponseHeaders().set("Content-Type", status == 200 ? "application/json" : "text/plain; charset=utf-8");
        if (index >= 0) {
            ex.getResponseHeaders().set("X-Consul-Index", Long.toString(index));
            ex.getResponseHeaders().set("X-Consul-KnownLeader", "true");
            ex.getResponseHeaders().set("X-Consul-LastContact", "0");
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            ex.getResponseBody().write(body);
        }
    }

    // ---- ACL --------------------------------------------------------------------------------------------------

    private static String token(HttpExchange ex, Map<String, String> query) {
        String t = ex.getRequestHeaders().getFirst("X-Consul-Token");
        if (t == null) {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            t = auth != null && auth.startsWith("Bearer ") ? auth.substring(7).trim() : query.get("token");
        }
        return t == null || t.isEmpty() ? null : t;
    }

    private boolean aclEnabled() {
        return writeTokens != null;
    }

    /** @return whether the caller may see services (false: anonymous or blind token, results filtered) */
    private boolean authorize(HttpExchange ex, Map<String, String> query, boolean write) throws Answer {
        if (!aclEnabled()) {
            return true;
        }
        String t = token(ex, query);
        if (t == null) {
            if (write) {
                throw new Answer(403, "Permission denied: anonymous token lacks permission 'service:write'");
            }
            return false;
        }
        if (writeTokens.contains(t)) {
            return true;
        }
        if (readTokens.contains(t) || blindTokens.contains(t)) {
            if (write) {
                throw new Answer(403, "Permission denied: token lacks permission 'service:write'");
            }
            return readTokens.contains(t);
        }
        throw new Answer(403, "ACL not found");
    }

    private void filteredHeader(HttpExchange ex, boolean filtered) {
        if (filtered && dialect == Dialect.CURRENT) {
            ex.getResponseHeaders().set("X-Consul-Results-Filtered-By-ACLs", "true");
        }
    }

    /** {@code POST /v1/internal/acl/authorize}, for service resources. */
    private void authorizeEndpoint(HttpExchange ex, Map<String, String> q) throws IOException, Answer {
        JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
        if (!aclEnabled()) {
            throw new Answer(401, "ACL support disabled");
        }
        String t = token(ex, q);
        boolean write = t != null && writeTokens.contains(t);
        boolean read = write || (t != null && readTokens.contains(t));
        if (t != null && !write && !read && !blindTokens.contains(t)) {
            throw new Answer(403, "ACL not found");
        }
        if (body == null || !body.isArray()) {
            throw new Answer(400, "Failed to decode request body: not an array");
        }
        ArrayNode answers = JSON.createArrayNode();
        for (JsonNode r : body) {
            ObjectNode a = answers.addObject();
            a.put("Resource", text(r, "Resource"));
            a.put("Segment", text(r, "Segment"));
            a.put("Access", text(r, "Access"));
            boolean service = text(r, "Resource").equals("service");
            a.put("Allow", service && (text(r, "Access").equals("read") ? read : write));
        }
        respond(ex, 200, JSON.writeValueAsBytes(answers), -1);
    }

    // ---- agent endpoints --------------------------------------------------------------------------------------

    private void register(HttpExchange ex, Map<String, String> q) throws IOException, Answer {
        byte[] raw = ex.getRequestBody().readAllBytes();
        JsonNode body;
        try {
            body = JSON.readTree(raw);
        } catch (IOException e) {
            throw new Answer(400, "Request decode failed: " + e.getMessage());
        }
        if (body == null || !body.isObject()) {
            throw new Answer(400, "Request decode failed: not an object");
        }
        String name = text(body, "Name");
        if (name.isEmpty()) {
            throw new Answer(400, "Missing service name");
        }
        String id = text(body, "ID").isEmpty() ? name : text(body, "ID");
        Map<String, String> meta = new LinkedHashMap<>();
        JsonNode metaNode = field(body, "Meta");
        if (metaNode != null && metaNode.isObject()) {
            metaNode.properties().forEach(e -> meta.put(e.getKey(), e.getValue().asText()));
        }
        validateMeta(meta);
        List<JsonNode> checkDefs = new ArrayList<>();
        if (field(body, "Check") != null && field(body, "Check").isObject()) {
            checkDefs.add(field(body, "Check"));
        }
        if (field(body, "Checks") != null && field(body, "Checks").isArray()) {
            field(body, "Checks").forEach(checkDefs::add);
        }
        List<Check> newChecks = new ArrayList<>();
        for (int i = 0; i < checkDefs.size(); i++) {
            newChecks.add(Check.parse(checkDefs.get(i), id, name, checkDefs.size() > 1 ? ":" + (i + 1) : ""));
        }
        Service service = new Service(id, name, body);
        authorize(ex, q, true);
        synchronized (lock) {
            registrations.add(new String(raw, StandardCharsets.UTF_8));
            Service old = services.get(id);
            if (old != null && !old.name.equals(name)) {
                removeService(id); // the id moves to another service name
                old = null;
            }
            long now = write(name, true, !newChecks.isEmpty());
            service.createIndex = old == null ? now : old.createIndex;
            service.modifyIndex = now;
            services.put(id, service);
            for (Check c : newChecks) {
                Check existing = checks.get(c.id);
                if (existing != null) {
                    c.status = existing.status; // the agent keeps a re-registered check's state
                    c.output = existing.output;
                    c.criticalSince = existing.criticalSince;
                    c.createIndex = existing.createIndex;
                    existing.cancel();
                } else {
                    c.createIndex = now;
                }
                c.modifyIndex = now;
                checks.put(c.id, c);
                startCheck(c);
            }
        }
        respond(ex, 200, new byte[0], -1);
    }

    private static void validateMeta(Map<String, String> meta) throws Answer {
        if (meta.size() > 64) {
            throw new Answer(400, "Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs");
        }
        for (Map.Entry<String, String> e : meta.entrySet()) {
            String why = null;
            if (e.getKey().isEmpty()) {
                why = "Key cannot be blank";
            } else if (!META_KEY.matcher(e.getKey()).matches()) {
                why = "Key contains invalid characters";
            } else if (e.getKey().length() > 128) {
                why = "Key is too long (limit: 128 characters)";
            } else if (e.getKey().startsWith("consul-")) {
                why = "Key prefix 'consul-' is reserved for internal use";
            } else if (e.getValue().getBytes(StandardCharsets.UTF_8).length > 512) {
                why = "Value is too long (limit: 512 characters)";
            }
            if (why != null) {
                throw new Answer(400, "Invalid Service Meta: Couldn't load metadata pair ('" + e.getKey() + "', '"
                        + e.getValue() + "'): " + why);
            }
        }
    }

    private void update(HttpExchange ex, String checkId, Map<String, String> q) throws IOException, Answer {
        JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
        String status = text(body, "Status");
        if (!status.equals("passing") && !status.equals("warning") && !status.equals("critical")) {
            throw new Answer(400, "Invalid check status: '" + status + "'");
        }
        authorize(ex, q, true);
        synchronized (lock) {
            Check c = checks.get(checkId);
            if (c == null) {
                if (dialect == Dialect.CURRENT) {
                    throw new Answer(404, "Unknown check ID \"" + checkId
                            + "\". Ensure that the check ID is passed, not the check name.");
                }
                throw new Answer(500, aclEnabled() ? "Unknown check \"" + checkId + "\""
                        : "CheckID \"" + checkId + "\" does not have associated TTL");
            }
            if (c.ttl == null) {
                throw new Answer(500, "CheckID \"" + checkId + "\" does not have associated TTL");
            }
            setStatus(c, status, text(body, "Output"));
            armTtl(c);
        }
        respond(ex, 200, new byte[0], -1);
    }

    private void deregister(HttpExchange ex, String serviceId, Map<String, String> q) throws IOException, Answer {
        authorize(ex, q, true);
        synchronized (lock) {
            if (!services.containsKey(serviceId)) {
                if (dialect == Dialect.CURRENT) {
                    throw new Answer(404, "Unknown service ID \"" + serviceId
                            + "\". Ensure that the service ID is passed, not the service name.");
                }
                if (aclEnabled()) {
                    throw new Answer(500, "Unknown service \"" + serviceId + "\"");
                }
                // Consul 1.10 without ACLs: the removal "fails" in the local state, is logged, and answers 200.
            }
            removeService(serviceId);
        }
        respond(ex, 200, new byte[0], -1);
    }

    private void health(HttpExchange ex, String name, Map<String, String> q) throws IOException, Answer {
        boolean passing = q.containsKey("passing") && !q.get("passing").equals("false") && !q.get("passing")
                .equals("0");
        ArrayNode entries = JSON.createArrayNode();
        boolean[] filtered = new boolean[1];
        long answerIndex = read(ex, q, "/v1/health/service/", name, () -> serviceIndex(name), visible -> {
            for (Service s : services.values()) {
                if (!s.name.equals(name)) {
                    continue;
                }
                List<Check> mine = checksOf(s.id);
                if (passing && mine.stream().anyMatch(c -> !c.status.equals("passing"))) {
                    continue;
                }
                if (!visible) {
                    filtered[0] = true;
                    continue;
                }
                entries.add(entry(s, mine));
            }
        });
        if (answerIndex < 0) {
            return;
        }
        filteredHeader(ex, filtered[0]);
        respond(ex, 200, JSON.writeValueAsBytes(entries), answerIndex);
    }

    /** {@code /v1/health/state/any}: every check (the node's too), with a {@code ServiceName} filter. */
    private void checkStates(HttpExchange ex, Map<String, String> q) throws IOException, Answer {
        Set<String> names = q.containsKey("filter") ? serviceNameFilter(q.get("filter")) : null;
        ArrayNode list = JSON.createArrayNode();
        boolean[] filtered = new boolean[1];
        long answerIndex = read(ex, q, "/v1/health/state/any", null, () -> checksIndex, visible -> {
            if (names == null || names.contains("")) {
                list.add(serfHealth());
            }
            for (Check c : checks.values()) {
                if (names != null && !names.contains(c.serviceName)) {
                    continue;
                }
                if (!visible) {
                    filtered[0] = true;
                    continue;
                }
                list.add(c.json(services.get(c.serviceId)));
            }
        });
        if (answerIndex < 0) {
            return;
        }
        filteredHeader(ex, filtered[0]);
        respond(ex, 200, JSON.writeValueAsBytes(list), answerIndex);
    }

    /** The names a filter of the form {@code ServiceName == "a" or ServiceName == "b"} accepts. */
    private static Set<String> serviceNameFilter(String filter) throws Answer {
        Set<String> names = new HashSet<>();
        Matcher m = FILTER_TERM.matcher(filter);
        int at = 0;
        while (at < filter.length()) {
            if (!m.find(at) || m.start() != at) {
                throw new Answer(400, "Failed to create boolean expression evaluator: the stand-in reads only"
                        + " 'ServiceName == \"x\"' terms joined by 'or', was: " + filter);
            }
            names.add(m.group(1).replace("\\\"", "\"").replace("\\\\", "\\"));
            at = m.end();
            if (m.group(2).isEmpty()) {
                break;
            }
        }
        return names;
    }

    /** {@code /v1/catalog/services}: every service name with the union of its instances' tags. */
    private void catalogServices(HttpExchange ex, Map<String, String> q) throws IOException, Answer {
        Map<String, Set<String>> names = new TreeMap<>();
        boolean[] filtered = new boolean[1];
        long answerIndex = read(ex, q, "/v1/catalog/services", null, () -> servicesIndex, visible -> {
            names.put("consul", new TreeSet<>());
            for (Service s : services.values()) {
                if (!visible) {
                    filtered[0] = true;
                    continue;
                }
                names.computeIfAbsent(s.name, k -> new TreeSet<>()).addAll(s.tags);
            }
        });
        if (answerIndex < 0) {
            return;
        }
        ObjectNode body = JSON.createObjectNode();
        names.forEach((name, tags) -> {
            ArrayNode t = body.putArray(name);
            tags.forEach(t::add);
        });
        filteredHeader(ex, filtered[0]);
        respond(ex, 200, JSON.writeValueAsBytes(body), answerIndex);
    }

    /** What a read computes under the lock, told whether the token may see services. */
    @FunctionalInterface
    private interface Reading {
        void read(boolean visible);
    }

    /**
     * A read, blocking when asked: held until {@code current} moves past {@code index} or the wait (plus jitter)
     * ends. Records the query.
     *
     * @return the answer's index, or -1 when the stand-in stopped meanwhile (the connection drops)
     */
    private long read(HttpExchange ex, Map<String, String> q, String path, String service, LongSupplier current,
                      Reading reading) throws Answer {
        boolean visible = authorize(ex, q, false);
        String dc = q.get("dc");
        if (dc != null && !dc.equals(DATACENTER)) {
            throw new Answer(500, "No path to datacenter");
        }
        long want = parseIndex(q.get("index"));
        Duration wait = q.containsKey("wait") ? parseWait(q.get("wait")) : Duration.ofMinutes(5);
        if (wait.compareTo(MAX_WAIT) > 0) {
            wait = MAX_WAIT;
        }
        long jitter = ThreadLocalRandom.current().nextLong(wait.toNanos() / 16 + 1);
        long start = System.nanoTime();
        synchronized (lock) {
            long deadline = start + wait.toNanos() + jitter;
            held++;
            try {
                while (want > 0 && current.getAsLong() <= want && running && connected(ex)) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return -1;
            } finally {
                held--;
            }
            if (!running || !connected(ex)) {
                return -1; // stopping, or the client went away: the connection drops
            }
            reading.read(visible);
            queries.add(new Query(path, service, want,
                    (System.nanoTime() - start) / 1_000_000, token(ex, q) != null));
            return zeroIndex ? 0 : current.getAsLong();
        }
    }

    /** Whether the client of this request is still connected. Called under lock. */
    private boolean connected(HttpExchange ex) {
        return liveConnections.contains(ex.getRemoteAddress().getPort());
    }

    /** Called under lock. */
    private long serviceIndex(String name) {
        Long own = serviceIndexes.get(name);
        return own != null ? own : Math.max(servicesIndex, checksIndex);
    }

    /** A write to the catalog, called under lock: bumps the raft index and the tables it touched; wakes queries. */
    private long write(String serviceName, boolean servicesTable, boolean checksTable) {
        index++;
        if (servicesTable) {
            servicesIndex = index;
        }
        if (checksTable) {
            checksIndex = index;
        }
        serviceIndexes.put(serviceName, index);
        lock.notifyAll();
        return index;
    }

    private List<Check> checksOf(String serviceId) {
        List<Check> mine = new ArrayList<>();
        for (Check c : checks.values()) {
            if (c.serviceId.equals(serviceId)) {
                mine.add(c);
            }
        }
        return mine;
    }

    private ObjectNode entry(Service s, List<Check> serviceChecks) {
        ObjectNode entry = JSON.createObjectNode();
        ObjectNode node = entry.putObject("Node");
        node.put("ID", "2f4bc9c5-2b0e-4b34-a1b1-000000000001");
        node.put("Node", NODE);
        node.put("Address", "127.0.0.1");
        node.put("Datacenter", DATACENTER);
        ObjectNode nodeTagged = node.putObject("TaggedAddresses");
        nodeTagged.put("lan", "127.0.0.1");
        nodeTagged.put("lan_ipv4", "127.0.0.1");
        nodeTagged.put("wan", "127.0.0.1");
        nodeTagged.put("wan_ipv4", "127.0.0.1");
        node.putObject("Meta").put("consul-network-segment", "");
        node.put("CreateIndex", 5);
        node.put("ModifyIndex", 5);
        entry.set("Service", s.json());
        ArrayNode list = entry.putArray("Checks");
        list.add(serfHealth());
        for (Check c : serviceChecks) {
            list.add(c.json(s));
        }
        return entry;
    }

    private static ObjectNode serfHealth() {
        ObjectNode serf = JSON.createObjectNode();
        serf.put("Node", NODE);
        serf.put("CheckID", "serfHealth");
        serf.put("Name", "Serf Health Status");
        serf.put("Status", "passing");
        serf.put("Notes", "");
        serf.put("Output", "Agent alive and reachable");
        serf.put("ServiceID", "");
        serf.put("ServiceName", "");
        serf.putArray("ServiceTags");
        serf.put("Type", "");
        serf.put("CreateIndex", 5);
        serf.put("ModifyIndex", 5);
        return serf;
    }

    private static long parseIndex(String text) throws Answer {
        if (text == null || text.isEmpty()) {
            return 0;
        }
        try {
            return Long.parseUnsignedLong(text);
        } catch (NumberFormatException e) {
            throw new Answer(400, "Invalid index");
        }
    }

    private static Duration parseWait(String text) throws Answer {
        try {
            return Durations.parse(text);
        } catch (IllegalArgumentException e) {
            throw new Answer(400, "Invalid wait time");
        }
    }

    // ---- checks -----------------------------------------------------------------------------------------------

    private void startCheck(Check c) {
        if (c.ttl != null) {
            armTtl(c);
        } else {
            long stagger = ThreadLocalRandom.current().nextLong(c.interval.toNanos());
            c.timer = timer.scheduleAtFixedRate(() -> handlers.execute(() -> probe(c)), stagger,
                    c.interval.toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    /** (Re)starts a TTL check's countdown; at its end the check turns critical. Called under lock. */
    private void armTtl(Check c) {
        if (c.timer != null) {
            c.timer.cancel(false);
        }
        c.timer = timer.schedule(() -> {
            synchronized (lock) {
                if (checks.get(c.id) == c) {
                    setStatus(c, "critical", "TTL expired");
                }
            }
        }, c.ttl.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void probe(Check c) {
        String status;
        String output;
        int colon = c.tcp.lastIndexOf(':');
        String host = c.tcp.substring(0, colon).replace("[", "").replace("]", "");
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, Integer.parseInt(c.tcp.substring(colon + 1))),
                    (int) c.timeout.toMillis());
            status = "passing";
            output = "TCP connect " + c.tcp + ": Success";
        } catch (IOException | RuntimeException e) {
            status = "critical";
            output = "dial tcp " + c.tcp + ": " + e.getMessage();
        }
        synchronized (lock) {
            if (checks.get(c.id) == c) {
                setStatus(c, status, output);
            }
        }
    }

    /** Called under lock; a change moves the index and wakes blocking queries. */
    private void setStatus(Check c, String status, String output) {
        if (c.status.equals(status) && c.output.equals(output)) {
            return;
        }
        if (!c.status.equals("critical") && status.equals("critical")) {
            c.criticalSince = System.nanoTime();
        }
        c.status = status;
        c.output = output;
        c.modifyIndex = write(c.serviceName, false, true);
    }

    private void reap() {
        synchronized (lock) {
            long now = System.nanoTime();
            List<String> dead = new ArrayList<>();
            for (Check c : checks.values()) {
                if (c.deregisterAfter == null || !c.status.equals("critical")) {
                    continue;
                }
                Duration after = c.deregisterAfter.compareTo(minimumDeregisterAfter) < 0 ? minimumDeregisterAfter
                        : c.deregisterAfter;
                if (now - c.criticalSince > after.toNanos()) {
                    dead.add(c.serviceId);
                }
            }
            dead.forEach(this::removeService);
        }
    }

    /** Called under lock. */
    private void removeService(String serviceId) {
        Service gone = services.remove(serviceId);
        if (gone == null) {
            return;
        }
        for (Iterator<Check> it = checks.values().iterator(); it.hasNext(); ) {
            Check c = it.next();
            if (c.serviceId.equals(serviceId)) {
                c.cancel();
                it.remove();
            }
        }
        write(gone.name, true, true);
        if (services.values().stream().noneMatch(s -> s.name.equals(gone.name))) {
            serviceIndexes.remove(gone.name); // Consul drops a service's index with its last instance
        }
    }

    // ---- data ---------------------------------------------------------------------------------------------

    /** A registered service, as the agent stores it. */
    private static final class Service {
        final String id;
        final String name;
        final List<String> tags = new ArrayList<>();
        final String address;
        final int port;
        final ObjectNode meta;
        final ObjectNode tagged;
        long createIndex;
        long modifyIndex;

        Service(String id, String name, JsonNode body) throws Answer {
            this.id = id;
            this.name = name;
            JsonNode t = field(body, "Tags");
            if (t != null && t.isArray()) {
                t.forEach(tag -> tags.add(tag.asText()));
            }
            this.address = text(body, "Address");
            this.port = field(body, "Port") == null ? 0 : field(body, "Port").asInt();
            this.meta = JSON.createObjectNode();
            JsonNode m = field(body, "Meta");
            if (m != null && m.isObject()) {
                m.properties().forEach(e -> meta.put(e.getKey(), e.getValue().asText()));
            }
            this.tagged = JSON.createObjectNode();
            JsonNode ta = field(body, "TaggedAddresses");
            if (ta != null && ta.isObject()) {
                for (Map.Entry<String, JsonNode> e : ta.properties()) {
                    ObjectNode a = tagged.putObject(e.getKey());
                    a.put("Address", text(e.getValue(), "Address"));
                    a.put("Port", field(e.getValue(), "Port") == null ? 0 : field(e.getValue(), "Port").asInt());
                }
            }
            for (String key : List.of("lan_ipv4", "wan_ipv4")) {
                if (tagged.has(key) && !isIp(tagged.get(key).get("Address").asText(), false)) {
                    throw new Answer(400, "Service tagged address \"" + key + "\" must be a valid ipv4 address");
                }
            }
            // The agent adds these from the service address (agent.go addServiceInternal).
            boolean v4 = isIp(address, false);
            boolean v6 = !v4 && isIp(address, true);
            for (String key : v4 ? List.of("lan_ipv4", "wan_ipv4") : v6 ? List.of("lan_ipv6", "wan_ipv6")
                    : List.<String>of()) {
                if (!tagged.has(key)) {
                    ObjectNode a = tagged.putObject(key);
                    a.put("Address", address);
                    a.put("Port", port);
                }
            }
        }

        private static boolean isIp(String text, boolean v6) {
            if (v6) {
                return text.contains(":") && text.matches("[0-9a-fA-F:.]+");
            }
            return text.matches("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");
        }

        ObjectNode json() {
            ObjectNode s = JSON.createObjectNode();
            s.put("ID", id);
            s.put("Service", name);
            ArrayNode t = s.putArray("Tags");
            tags.forEach(t::add);
            s.put("Address", address);
            // Go writes map keys sorted.
            ObjectNode sortedTagged = s.putObject("TaggedAddresses");
            new TreeMap<String, JsonNode>(toMap(tagged)).forEach(sortedTagged::set);
            if (meta.isEmpty()) {
                s.putNull("Meta");
            } else {
                s.set("Meta", meta);
            }
            s.put("Port", port);
            ObjectNode weights = s.putObject("Weights");
            weights.put("Passing", 1);
            weights.put("Warning", 1);
            s.put("EnableTagOverride", false);
            s.put("CreateIndex", createIndex);
            s.put("ModifyIndex", modifyIndex);
            return s;
        }

        private static Map<String, JsonNode> toMap(ObjectNode node) {
            Map<String, JsonNode> m = new LinkedHashMap<>();
            node.properties().forEach(e -> m.put(e.getKey(), e.getValue()));
            return m;
        }
    }

    /** A TTL or TCP check. */
    private static final class Check {
        final String id;
        final String serviceId;
        final String serviceName;
        final Duration ttl;
        final String tcp;
        final Duration interval;
        final Duration timeout;
        final Duration deregisterAfter;
        String status;
        String output = "";
        long criticalSince = System.nanoTime();
        long createIndex;
        long modifyIndex;
        ScheduledFuture<?> timer;

        private Check(String id, String serviceId, String serviceName, Duration ttl, String tcp, Duration interval,
                      Duration timeout, Duration deregisterAfter, String status) {
            this.id = id;
            this.serviceId = serviceId;
            this.serviceName = serviceName;
            this.ttl = ttl;
            this.tcp = tcp;
            this.interval = interval;
            this.timeout = timeout;
            this.deregisterAfter = deregisterAfter;
            this.status = status;
        }

        static Check parse(JsonNode def, String serviceId, String serviceName, String suffix) throws Answer {
            String id = text(def, "CheckID").isEmpty() ? "service:" + serviceId + suffix : text(def, "CheckID");
            Duration ttl = duration(def, "TTL");
            String tcp = text(def, "TCP");
            Duration interval = duration(def, "Interval");
            Duration timeout = duration(def, "Timeout");
            if (ttl == null && tcp.isEmpty()) {
                throw new Answer(400, "Invalid check: the stand-in supports TTL and TCP checks only");
            }
            if (ttl != null && !tcp.isEmpty()) {
                throw new Answer(400, "Invalid check: TTL and TCP are exclusive");
            }
            if (!tcp.isEmpty() && (interval == null || interval.isZero())) {
                throw new Answer(400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, or TCP checks");
            }
            String status = text(def, "Status").isEmpty() ? "critical" : text(def, "Status");
            return new Check(id, serviceId, serviceName, ttl, tcp.isEmpty() ? null : tcp, interval,
                    timeout == null ? Duration.ofSeconds(10) : timeout, duration(def, "DeregisterCriticalServiceAfter"),
                    status);
        }

        private static Duration duration(JsonNode def, String name) throws Answer {
            String t = text(def, name);
            if (t.isEmpty()) {
                return null;
            }
            try {
                return Durations.parse(t);
            } catch (IllegalArgumentException e) {
                throw new Answer(400, "Invalid check: bad " + name + " '" + t + "'");
            }
        }

        void cancel() {
            if (timer != null) {
                timer.cancel(false);
            }
        }

        ObjectNode json(Service s) {
            ObjectNode c = JSON.createObjectNode();
            c.put("Node", NODE);
            c.put("CheckID", id);
            c.put("Name", "Service '" + serviceName + "' check");
            c.put("Status", status);
            c.put("Notes", "");
            c.put("Output", output);
            c.put("ServiceID", serviceId);
            c.put("ServiceName", serviceName);
            ArrayNode tags = c.putArray("ServiceTags");
            s.tags.forEach(tags::add);
            c.put("Type", ttl != null ? "ttl" : "tcp");
            c.put("Interval", interval == null ? "" : ConsulFormat.goDuration(interval));
            c.put("Timeout", ttl != null ? "" : ConsulFormat.goDuration(timeout));
            c.put("CreateIndex", createIndex);
            c.put("ModifyIndex", modifyIndex);
            return c;
        }
    }

    private static JsonNode field(JsonNode object, String name) {
        return ConsulFormat.field(object, name);
    }

    private static String text(JsonNode object, String name) {
        return ConsulFormat.text(object, name);
    }

    @Override
    public String toString() {
        return "ConsulStandIn{" + address() + (tls == null ? "" : ", tls") + (writeTokens == null ? "" : ", acl")
                + ", services=" + Collections.unmodifiableSet(services.keySet()) + "}";
    }
}
