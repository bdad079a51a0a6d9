package io.roster.nacos;

import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.grpc.auto.BiRequestStreamGrpc;
import com.alibaba.nacos.api.grpc.auto.Payload;
import com.alibaba.nacos.api.grpc.auto.RequestGrpc;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ServiceInfo;
import com.alibaba.nacos.api.naming.remote.NamingRemoteConstants;
import com.alibaba.nacos.api.naming.remote.request.AbstractNamingRequest;
import com.alibaba.nacos.api.naming.remote.request.BatchInstanceRequest;
import com.alibaba.nacos.api.naming.remote.request.InstanceRequest;
import com.alibaba.nacos.api.naming.remote.request.NotifySubscriberRequest;
import com.alibaba.nacos.api.naming.remote.request.ServiceListRequest;
import com.alibaba.nacos.api.naming.remote.request.ServiceQueryRequest;
import com.alibaba.nacos.api.naming.remote.request.SubscribeServiceRequest;
import com.alibaba.nacos.api.naming.remote.response.BatchInstanceResponse;
import com.alibaba.nacos.api.naming.remote.response.InstanceResponse;
import com.alibaba.nacos.api.naming.remote.response.NotifySubscriberResponse;
import com.alibaba.nacos.api.naming.remote.response.QueryServiceResponse;
import com.alibaba.nacos.api.naming.remote.response.ServiceListResponse;
import com.alibaba.nacos.api.naming.remote.response.SubscribeServiceResponse;
import com.alibaba.nacos.api.naming.utils.NamingUtils;
import com.alibaba.nacos.api.remote.request.ConnectionSetupRequest;
import com.alibaba.nacos.api.remote.request.HealthCheckRequest;
import com.alibaba.nacos.api.remote.request.Request;
import com.alibaba.nacos.api.remote.request.ServerCheckRequest;
import com.alibaba.nacos.api.remote.request.SetupAckRequest;
import com.alibaba.nacos.api.remote.response.ErrorResponse;
import com.alibaba.nacos.api.remote.response.HealthCheckResponse;
import com.alibaba.nacos.api.remote.response.Response;
import com.alibaba.nacos.api.remote.response.ServerCheckResponse;
import com.alibaba.nacos.common.remote.client.grpc.GrpcUtils;
import com.alibaba.nacos.common.utils.JacksonUtils;
import com.alibaba.nacos.shaded.io.grpc.Attributes;
import com.alibaba.nacos.shaded.io.grpc.Context;
import com.alibaba.nacos.shaded.io.grpc.Contexts;
import com.alibaba.nacos.shaded.io.grpc.Grpc;
import com.alibaba.nacos.shaded.io.grpc.Metadata;
import com.alibaba.nacos.shaded.io.grpc.Server;
import com.alibaba.nacos.shaded.io.grpc.ServerCall;
import com.alibaba.nacos.shaded.io.grpc.ServerCallHandler;
import com.alibaba.nacos.shaded.io.grpc.ServerInterceptor;
import com.alibaba.nacos.shaded.io.grpc.ServerInterceptors;
import com.alibaba.nacos.shaded.io.grpc.ServerTransportFilter;
import com.alibaba.nacos.shaded.io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import com.alibaba.nacos.shaded.io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import com.alibaba.nacos.shaded.io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import com.alibaba.nacos.shaded.io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import com.alibaba.nacos.shaded.io.grpc.stub.StreamObserver;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.roster.spi.DaemonThreadFactory;
import io.roster.testkit.FreePorts;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A Nacos stand-in for tests, in this JVM: <strong>not Nacos</strong>, but the part of the Nacos 2.x/3.x server
 * protocol that nacos-client's naming module speaks, with the server's semantics where they matter to Roster.
 *
 * <p>Transport: the gRPC services {@code Request/request} and {@code BiRequestStream/requestBiStream} on the main
 * port + 1000, exchanging {@code Payload}s whose body is the JSON of the class named by {@code metadata.type}. The
 * server side reuses what nacos-client itself ships: the generated service bases, the shaded gRPC Netty server and
 * {@code GrpcUtils}/{@code PayloadRegistry} for the JSON bodies, which are the same classes a real server uses.
 * Connection life cycle as on a real server: {@code ServerCheckRequest} returns the connection id the transport got
 * when it connected; {@code ConnectionSetupRequest} on the bi-stream registers the connection and is answered with a
 * {@code SetupAckRequest} (ability negotiation, as 2.3+ servers do); any other request on an unregistered connection
 * gets error 301 (the client then reconnects).
 *
 * <p>Naming: {@code InstanceRequest} (register/deregister), {@code BatchInstanceRequest},
 * {@code SubscribeServiceRequest} (answered with the current {@code ServiceInfo}, then a push, as the real server
 * pushes to a new subscriber), {@code ServiceQueryRequest} (cluster and healthy-only filters) and
 * {@code ServiceListRequest} (which, as on the server, still lists a service whose last instance left), with the
 * server's default parameter checks on service names and metadata size (1024). Changes are pushed as the server
 * does: a {@code NotifySubscriberRequest} with the full list to each subscribed connection, after the server's
 * push delay, which merges the changes of one service ({@link #PUSH_DELAY}, 500 ms); the client's ack is counted. Ephemeral semantics as on Nacos 2.x/3.x: a connection
 * publishes at most one entry per service (a single instance or one batch); a second {@code registerInstance} or a
 * batch of the same service on the same connection replaces it; a deregister removes the connection's entry whatever
 * its ip and port; a closed connection removes everything it published and pushes the change. Instance ids are set
 * as the server's default generator does ({@code ip#port#cluster#group@@service}).
 *
 * <p>Auth, when {@link #withCredentials credentials} are set: nacos-client logs in over HTTP on the main port
 * ({@code POST /nacos/v3/auth/user/login}, falling back to {@code /nacos/v1/auth/users/login} on 404), sends the
 * token in the {@code accessToken} header of each gRPC request, and the naming requests that a real server guards
 * with {@code @Secured} are refused with error 403 when the token is missing or wrong.
 *
 * <p>Faults: {@link #stop()} and {@link #restart()} lose every connection and ephemeral instance, as a crashed
 * or restarted server does (nacos-client's redo then registers and subscribes again); {@link #hold} delays requests
 * of one type, which the server applies late; {@link #rewrite} leaves another set behind.
 *
 * <p>Not modelled: persistent instances, clusters of servers, distro, metadata operations, fuzzy watch, TLS, push
 * retries. Unknown request types get the server's "no handler" error 302. The types received are recorded in
 * {@link #requestTypes()}. All threads are named {@code nacos-standin-...}.
 */
final class NacosStandIn implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NacosStandIn.class);
    /** The gRPC port is the main port plus this offset, as nacos-client assumes by default. */
    static final int GRPC_OFFSET = 1000;
    static final String THREAD_PREFIX = "nacos-standin";
    /**
     * How long a push waits, merging the changes of one service, as the server's push delay task does (500 ms by
     * default, as here): also what keeps a push from overtaking the answer to the subscription that caused it.
     */
    static final Duration PUSH_DELAY = Duration.ofMillis(500);

    private static final Attributes.Key<String> CONNECTION_ATTR = Attributes.Key.create("connectionId");
    private static final Context.Key<String> CONNECTION = Context.key("connectionId");
    /** The server's default checks (ParamCheckRule): service name characters and metadata size. */
    private static final Pattern SERVICE_NAME = Pattern.compile("^(?!@).((?!@@)[^\\u4E00-\\u9FA5\\s])*$");
    private static final int MAX_METADATA_LENGTH = 1024;
    private static final Set<Class<?>> SECURED = Set.of(InstanceRequest.class, BatchInstanceRequest.class,
            SubscribeServiceRequest.class, ServiceQueryRequest.class, ServiceListRequest.class);

    private final int port;
    private final String username;
    private final String password;
    private final List<String> requestTypes = new CopyOnWriteArrayList<>();
    private final AtomicLong pushAcks = new AtomicLong();
    private final AtomicLong pushIds = new AtomicLong();
    private final Set<String> tokens = ConcurrentHashMap.newKeySet();
    private final Map<String, Gate> gates = new ConcurrentHashMap<>();

    // Server state, guarded by this; lost on stop() as on a real restart (ephemeral data lives in memory).
    private final Map<String, Connection> connections = new HashMap<>();
    private final Map<ServiceKey, Map<String, List<Instance>>> published = new HashMap<>(); // service -> conn -> list
    private final Map<ServiceKey, Set<String>> subscribers = new HashMap<>();
    private final Map<ServiceKey, Set<String>> pendingPushes = new HashMap<>();
    private long lastRefTime;

    private Server grpc;
    private HttpServer http;
    private EventLoopGroup boss;
    private EventLoopGroup workers;
    private ExecutorService executor;
    private ScheduledExecutorService pusher;

    private NacosStandIn(int port, String username, String password) {
        this.port = port;
        this.username = username;
        this.password = password;
    }

    /**
     * Starts a stand-in without auth on free ports.
     *
     * @return the running stand-in
     */
    static NacosStandIn start() {
        return withCredentials(null, null);
    }

    /**
     * Starts a stand-in that requires a login on free ports.
     *
     * @param username the only user, or {@code null} for no auth
     * @param password its password
     * @return the running stand-in
     */
    static NacosStandIn withCredentials(String username, String password) {
        NacosStandIn server = new NacosStandIn(freeMainPort(), username, password);
        server.startServers();
        return server;
    }

    /** The main (HTTP) port; nacos-client connects to the gRPC port {@code port() + 1000}. */
    int port() {
        return port;
    }

    /** The server address for nacos-client's {@code serverAddr}. */
    String address() {
        return "127.0.0.1:" + port;
    }

    /** The request types received so far, in order, such as {@code InstanceRequest}. */
    List<String> requestTypes() {
        return List.copyOf(requestTypes);
    }

    /** How many pushes the clients acknowledged. */
    long pushAcks() {
        return pushAcks.get();
    }

    /**
     * Returns copies of the instances a service has now, as the server would return them.
     *
     * @param namespace such as {@code public}
     * @param group such as {@code DEFAULT_GROUP}
     * @param service such as {@code helloworld.grpc}
     * @return the instances, in publishing order
     */
    synchronized List<Instance> instances(String namespace, String group, String service) {
        return hosts(new ServiceKey(namespace, group, service));
    }

    /**
     * Rewrites what every connection published for a service, and pushes the change: the state a lost race leaves
     * (nacos-client's redo re-sending an older set after a newer registration).
     *
     * @param service such as {@code helloworld.grpc} in namespace {@code public}, group {@code DEFAULT_GROUP}
     * @param change the new list of a connection, given its current one
     */
    synchronized void rewrite(String service, java.util.function.UnaryOperator<List<Instance>> change) {
        ServiceKey key = new ServiceKey("public", "DEFAULT_GROUP", service);
        Map<String, List<Instance>> byConnection = published.get(key);
        if (byConnection != null) {
            byConnection.replaceAll((connection, list) -> change.apply(list));
            changed(key);
        }
    }

    /**
     * Holds every request of one type, from now until the gate is released: a request stuck in the network or in
     * the server's queue, which the server then applies late (when the client may have sent newer ones).
     *
     * @param type such as {@code BatchInstanceRequest}
     * @return the gate; release it to let the held requests through
     */
    Gate hold(String type) {
        Gate gate = new Gate();
        gates.put(type, gate);
        return gate;
    }

    /** Requests held by {@link #hold}. */
    final class Gate {
        private final CountDownLatch open = new CountDownLatch(1);
        private final AtomicLong held = new AtomicLong();

        private void pass() {
            held.incrementAndGet();
            try {
                open.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** How many requests are waiting. */
        long held() {
            return held.get();
        }

        /** Lets the held requests through and stops holding. */
        void release() {
            gates.values().remove(this);
            open.countDown();
        }
    }

    /** Stops the servers and forgets every connection and instance, as a crashed server would. */
    void stop() {
        Server server;
        synchronized (this) {
            server = grpc;
            grpc = null;
        }
        if (server == null) {
            return;
        }
        // Not under the lock: closing transports calls back into connectionClosed().
        server.shutdownNow();
        http.stop(0);
        try {
            server.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        executor.shutdownNow();
        pusher.shutdownNow();
        synchronized (this) {
            pendingPushes.clear();
            connections.clear();
            published.clear();
            subscribers.clear();
            tokens.clear();
        }
        LOG.info("Nacos stand-in on {} stopped", port);
    }

    /** Starts again on the same ports, empty. */
    void restart() {
        stop();
        startServers();
    }

    @Override
    public void close() {
        stop();
        boss.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
        workers.terminationFuture().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private synchronized void startServers() {
        executor = Executors.newCachedThreadPool(new DaemonThreadFactory(THREAD_PREFIX + "-exec"));
        pusher = DaemonThreadFactory.scheduler(THREAD_PREFIX + "-push");
        boss = new NioEventLoopGroup(1, new DaemonThreadFactory(THREAD_PREFIX + "-boss"));
        workers = new NioEventLoopGroup(2, new DaemonThreadFactory(THREAD_PREFIX + "-worker"));
        try {
            http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
            http.setExecutor(executor);
            http.createContext("/", this::handleHttp);
            http.start();
            grpc = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                            port + GRPC_OFFSET))
                    .channelType(NioServerSocketChannel.class)
                    .bossEventLoopGroup(boss)
                    .workerEventLoopGroup(workers)
                    .executor(executor)
                    .addTransportFilter(new ConnectionTracker())
                    .addService(ServerInterceptors.intercept(new UnaryService(), new ConnectionIdInterceptor()))
                    .addService(ServerInterceptors.intercept(new StreamService(), new ConnectionIdInterceptor()))
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("Nacos stand-in cannot bind port " + port + " or " + (port
                    + GRPC_OFFSET), e);
        }
        LOG.info("Nacos stand-in listening on {} (gRPC {}){}", port, port + GRPC_OFFSET,
                username == null ? "" : " with auth");
    }

    static int freeMainPort() {
        for (int attempt = 0; attempt < 50; attempt++) {
            int candidate = FreePorts.next();
            if (candidate + GRPC_OFFSET <= 65535 && isFree(candidate + GRPC_OFFSET)) {
                return candidate;
            }
        }
        throw new IllegalStateException("no free port pair (p, p+1000) on 127.0.0.1");
    }

    private static boolean isFree(int port) {
        try (ServerSocket socket = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------------------------------------- HTTP login

    private void handleHttp(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            if (!exchange.getRequestMethod().equals("POST")
                    || !(path.equals("/nacos/v3/auth/user/login") || path.equals("/nacos/v1/auth/users/login"))) {
                LOG.info("Nacos stand-in: no HTTP handler for {} {}", exchange.getRequestMethod(), path);
                reply(exchange, 404, "{\"code\":404,\"message\":\"not found\"}");
                return;
            }
            requestTypes.add("HTTP " + path);
            Map<String, String> params = form(exchange.getRequestURI().getRawQuery());
            params.putAll(form(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)));
            if (username != null && !(username.equals(params.get("username"))
                    && password.equals(params.get("password")))) {
                reply(exchange, 403, "{\"code\":403,\"message\":\"unknown user!\",\"data\":null}");
                return;
            }
            String token = UUID.randomUUID().toString();
            tokens.add(token);
            reply(exchange, 200, "{\"accessToken\":\"" + token + "\",\"tokenTtl\":18000,\"globalAdmin\":true,"
                    + "\"username\":\"" + params.getOrDefault("username", "") + "\"}");
        }
    }

    private static Map<String, String> form(String encoded) {
        Map<String, String> params = new HashMap<>();
        if (encoded == null || encoded.isEmpty()) {
            return params;
        }
        for (String pair : encoded.split("&")) {
            int eq = pair.indexOf('=');
            String key = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            params.put(key, eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        }
        return params;
    }

    private static void reply(HttpExchange exchange, int status, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        exchange.getResponseBody().write(body);
    }

    // ------------------------------------------------------------------------------------------ gRPC plumbing

    /** Gives each transport a connection id when it connects and forgets its data when it closes. */
    private final class ConnectionTracker extends ServerTransportFilter {
        @Override
        public Attributes transportReady(Attributes attributes) {
            SocketAddress remote = attributes.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
            InetSocketAddress address = (InetSocketAddress) remote;
            String id = System.currentTimeMillis() + "_" + address.getAddress().getHostAddress() + "_"
                    + address.getPort();
            return attributes.toBuilder().set(CONNECTION_ATTR, id).build();
        }

        @Override
        public void transportTerminated(Attributes attributes) {
            String id = attributes.get(CONNECTION_ATTR);
            if (id != null) {
                connectionClosed(id);
            }
        }
    }

    /** Makes the transport's connection id visible to the service methods, as the real server's interceptor. */
    private static final class ConnectionIdInterceptor implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                           ServerCallHandler<Q, R> next) {
            Context context = Context.current().withValue(CONNECTION, call.getAttributes().get(CONNECTION_ATTR));
            return Contexts.interceptCall(context, call, headers, next);
        }
    }

    private final class UnaryService extends RequestGrpc.RequestImplBase {
        @Override
        public void request(Payload payload, StreamObserver<Payload> responseObserver) {
            String connectionId = CONNECTION.get();
            Response response;
            try {
                Request request = (Request) GrpcUtils.parse(payload);
                requestTypes.add(request.getClass().getSimpleName());
                Gate gate = gates.get(request.getClass().getSimpleName());
                if (gate != null) {
                    gate.pass();
                }
                response = handle(connectionId, request);
            } catch (RuntimeException e) {
                LOG.warn("Nacos stand-in: request failed", e);
                response = ErrorResponse.build(NacosException.SERVER_ERROR, e.toString());
            }
            responseObserver.onNext(GrpcUtils.convert(response));
            responseObserver.onCompleted();
        }
    }

    private final class StreamService extends BiRequestStreamGrpc.BiRequestStreamImplBase {
        @Override
        public StreamObserver<Payload> requestBiStream(StreamObserver<Payload> toClient) {
            String connectionId = CONNECTION.get();
            return new StreamObserver<>() {
                @Override
                public void onNext(Payload payload) {
                    Object message = GrpcUtils.parse(payload);
                    requestTypes.add(message.getClass().getSimpleName());
                    if (message instanceof ConnectionSetupRequest) {
                        setUp(connectionId, (ConnectionSetupRequest) message, toClient);
                    } else if (message instanceof NotifySubscriberResponse) {
                        pushAcks.incrementAndGet();
                    } else if (!(message instanceof Response)) {
                        LOG.info("Nacos stand-in: unexpected {} on the bi-stream", message.getClass().getSimpleName());
                    }
                }

                @Override
                public void onError(Throwable t) {
                    // The transport filter cleans up when the connection itself closes.
                }

                @Override
                public void onCompleted() {
                    synchronized (toClient) {
                        toClient.onCompleted();
                    }
                }
            };
        }
    }

    /** One registered client connection and its push stream. */
    private static final class Connection {
        final String id;
        final StreamObserver<Payload> stream;

        Connection(String id, StreamObserver<Payload> stream) {
            this.id = id;
            this.stream = stream;
        }

        void send(Request request) {
            synchronized (stream) { // StreamObserver is not thread-safe
                try {
                    stream.onNext(GrpcUtils.convert(request));
                } catch (RuntimeException e) {
                    LOG.debug("Nacos stand-in: push to {} failed: {}", id, e.toString());
                }
            }
        }
    }

    private record ServiceKey(String namespace, String group, String service) {
        static ServiceKey of(AbstractNamingRequest request) {
            return new ServiceKey(request.getNamespace(), request.getGroupName(), request.getServiceName());
        }
    }

    // ------------------------------------------------------------------------------------------ the protocol

    private synchronized void setUp(String connectionId, ConnectionSetupRequest setup,
                                    StreamObserver<Payload> stream) {
        Connection connection = new Connection(connectionId, stream);
        connections.put(connectionId, connection);
        LOG.debug("Nacos stand-in: connection {} set up (client {}, namespace {})", connectionId,
                setup.getClientVersion(), setup.getTenant());
        connection.send(new SetupAckRequest(new HashMap<>()));
    }

    private synchronized Response handle(String connectionId, Request request) {
        if (request instanceof ServerCheckRequest) {
            return new ServerCheckResponse(connectionId, true);
        }
        if (!connections.containsKey(connectionId)) {
            return ErrorResponse.build(NacosException.UN_REGISTER, "Connection is unregistered.");
        }
        if (request instanceof HealthCheckRequest) {
            return new HealthCheckResponse();
        }
        if (SECURED.contains(request.getClass()) && username != null) {
            String token = request.getHeader("accessToken");
            if (token == null || token.isEmpty() || !tokens.contains(token)) {
                Response denied = responseTypeOf(request);
                denied.setErrorInfo(NacosException.NO_RIGHT, token == null || token.isEmpty() ? "user not found!"
                        : "token invalid!");
                return denied;
            }
        }
        String invalid = paramCheck(request);
        if (invalid != null) {
            Response refused = responseTypeOf(request);
            refused.setErrorInfo(NacosException.INVALID_PARAM, invalid);
            return refused;
        }
        if (request instanceof InstanceRequest) {
            return instance(connectionId, (InstanceRequest) request);
        }
        if (request instanceof BatchInstanceRequest) {
            return batch(connectionId, (BatchInstanceRequest) request);
        }
        if (request instanceof SubscribeServiceRequest) {
            return subscribe(connectionId, (SubscribeServiceRequest) request);
        }
        if (request instanceof ServiceQueryRequest) {
            return query((ServiceQueryRequest) request);
        }
        if (request instanceof ServiceListRequest) {
            return list((ServiceListRequest) request);
        }
        return ErrorResponse.build(NacosException.NO_HANDLER, "RequestHandler Not Found");
    }

    /** The server's default parameter checks that Roster can run into: service name characters, metadata size. */
    private static String paramCheck(Request request) {
        if (request instanceof AbstractNamingRequest) {
            String service = ((AbstractNamingRequest) request).getServiceName();
            if (service != null && !service.isBlank() && !SERVICE_NAME.matcher(service).matches()) {
                return "Param 'serviceName' is illegal, illegal characters should not appear in the param.";
            }
        }
        List<Instance> instances = request instanceof InstanceRequest
                ? List.of(((InstanceRequest) request).getInstance())
                : request instanceof BatchInstanceRequest ? ((BatchInstanceRequest) request).getInstances() : List.of();
        for (Instance instance : instances) {
            int length = 0;
            for (Map.Entry<String, String> e : instance.getMetadata().entrySet()) {
                length += (e.getKey() == null ? 0 : e.getKey().length())
                        + (e.getValue() == null ? 0 : e.getValue().length());
            }
            if (length > MAX_METADATA_LENGTH) {
                return "Param 'Metadata' is illegal, the param length should not exceed " + MAX_METADATA_LENGTH + ".";
            }
        }
        return null;
    }

    private static Response responseTypeOf(Request request) {
        if (request instanceof InstanceRequest) {
            return new InstanceResponse();
        }
        if (request instanceof BatchInstanceRequest) {
            return new BatchInstanceResponse();
        }
        if (request instanceof SubscribeServiceRequest) {
            return new SubscribeServiceResponse();
        }
        if (request instanceof ServiceQueryRequest) {
            return new QueryServiceResponse();
        }
        return new ServiceListResponse();
    }

    private Response instance(String connectionId, InstanceRequest request) {
        ServiceKey key = ServiceKey.of(request);
        switch (request.getType()) {
            case NamingRemoteConstants.REGISTER_INSTANCE:
                publish(key, connectionId, List.of(stored(key, request.getInstance())));
                return new InstanceResponse(NamingRemoteConstants.REGISTER_INSTANCE);
            case NamingRemoteConstants.DE_REGISTER_INSTANCE:
                // As on the server: the connection's entry for the service goes, whatever ip and port were sent.
                Map<String, List<Instance>> byConnection = published.get(key);
                if (byConnection != null && byConnection.remove(connectionId) != null) {
                    changed(key);
                }
                return new InstanceResponse(NamingRemoteConstants.DE_REGISTER_INSTANCE);
            default:
                return ErrorResponse.build(NacosException.INVALID_PARAM, "Unsupported request type "
                        + request.getType());
        }
    }

    private Response batch(String connectionId, BatchInstanceRequest request) {
        if (!NamingRemoteConstants.BATCH_REGISTER_INSTANCE.equals(request.getType())) {
            return ErrorResponse.build(NacosException.INVALID_PARAM, "Unsupported request type "
                    + request.getType());
        }
        ServiceKey key = ServiceKey.of(request);
        List<Instance> all = new ArrayList<>();
        for (Instance instance : request.getInstances()) {
            all.add(stored(key, instance));
        }
        publish(key, connectionId, all);
        return new BatchInstanceResponse(NamingRemoteConstants.BATCH_REGISTER_INSTANCE);
    }

    private void publish(ServiceKey key, String connectionId, List<Instance> instances) {
        published.computeIfAbsent(key, k -> new LinkedHashMap<>()).put(connectionId, instances);
        changed(key);
    }

    /** The instance as the server keeps it: a copy, with the service, cluster and id the server fills in. */
    private static Instance stored(ServiceKey key, Instance sent) {
        Instance copy = JacksonUtils.toObj(JacksonUtils.toJson(sent), Instance.class);
        copy.setServiceName(NamingUtils.getGroupedName(key.service(), key.group()));
        if (copy.getClusterName() == null || copy.getClusterName().isBlank()) {
            copy.setClusterName("DEFAULT");
        }
        if (copy.getInstanceId() == null || copy.getInstanceId().isEmpty()) {
            copy.setInstanceId(copy.getIp() + "#" + copy.getPort() + "#" + copy.getClusterName() + "#"
                    + copy.getServiceName());
        }
        copy.setEphemeral(true);
        return copy;
    }

    private Response subscribe(String connectionId, SubscribeServiceRequest request) {
        ServiceKey key = ServiceKey.of(request);
        ServiceInfo info = serviceInfo(key, hosts(key));
        if (request.isSubscribe()) {
            subscribers.computeIfAbsent(key, k -> new TreeSet<>()).add(connectionId);
            // The real server pushes the service to a new subscriber shortly after it subscribed.
            schedulePush(key, Set.of(connectionId));
        } else {
            Set<String> set = subscribers.get(key);
            if (set != null) {
                set.remove(connectionId);
            }
        }
        return new SubscribeServiceResponse(200, "success", info);
    }

    private Response query(ServiceQueryRequest request) {
        ServiceKey key = ServiceKey.of(request);
        Set<String> clusters = request.getCluster() == null || request.getCluster().isBlank() ? Set.of()
                : Set.copyOf(Arrays.asList(request.getCluster().split(",")));
        List<Instance> hosts = hosts(key).stream()
                .filter(i -> clusters.isEmpty() || clusters.contains(i.getClusterName()))
                .filter(i -> !request.isHealthyOnly() || i.isHealthy())
                .collect(Collectors.toList());
        return QueryServiceResponse.buildSuccessResponse(serviceInfo(key, hosts));
    }

    private Response list(ServiceListRequest request) {
        // As on the server, a service whose last instance left is still listed (until its clean-up, a minute on
        // a real server, never here).
        List<String> names = published.keySet().stream()
                .filter(k -> k.namespace().equals(request.getNamespace()) && k.group().equals(request.getGroupName()))
                .map(ServiceKey::service)
                .sorted()
                .collect(Collectors.toList());
        int from = Math.min(names.size(), Math.max(0, request.getPageNo() - 1) * request.getPageSize());
        int to = Math.min(names.size(), from + request.getPageSize());
        return ServiceListResponse.buildSuccessResponse(names.size(), names.subList(from, to));
    }

    private List<Instance> hosts(ServiceKey key) {
        List<Instance> hosts = new ArrayList<>();
        published.getOrDefault(key, Map.of()).values().forEach(list -> list.forEach(i ->
                hosts.add(JacksonUtils.toObj(JacksonUtils.toJson(i), Instance.class))));
        return hosts;
    }

    private ServiceInfo serviceInfo(ServiceKey key, List<Instance> hosts) {
        ServiceInfo info = new ServiceInfo();
        info.setName(key.service());
        info.setGroupName(key.group());
        info.setClusters("");
        info.setHosts(hosts);
        // nacos-client ignores (but caches) a list older than the one it has: keep the time moving forward.
        lastRefTime = Math.max(lastRefTime + 1, System.currentTimeMillis());
        info.setLastRefTime(lastRefTime);
        info.setCacheMillis(10_000L);
        return info;
    }

    private void changed(ServiceKey key) {
        schedulePush(key, subscribers.getOrDefault(key, Set.of()));
    }

    private void schedulePush(ServiceKey key, Set<String> connectionIds) {
        if (connectionIds.isEmpty()) {
            return;
        }
        Set<String> pending = pendingPushes.get(key);
        if (pending == null) {
            pendingPushes.put(key, new TreeSet<>(connectionIds));
            pusher.schedule(() -> push(key), PUSH_DELAY.toMillis(), TimeUnit.MILLISECONDS);
        } else {
            pending.addAll(connectionIds);
        }
    }

    /** Sends the service as it is now to the connections waiting for it that still subscribe to it. */
    private synchronized void push(ServiceKey key) {
        Set<String> targets = pendingPushes.remove(key);
        if (targets == null) {
            return;
        }
        ServiceInfo info = serviceInfo(key, hosts(key));
        for (String id : targets) {
            Connection connection = connections.get(id);
            if (connection == null || !subscribers.getOrDefault(key, Set.of()).contains(id)) {
                continue;
            }
            NotifySubscriberRequest push = NotifySubscriberRequest.buildNotifySubscriberRequest(info);
            push.setNamespace(key.namespace());
            push.setGroupName(key.group());
            push.setServiceName(key.service());
            push.setRequestId(String.valueOf(pushIds.incrementAndGet()));
            connection.send(push);
        }
    }

    private synchronized void connectionClosed(String connectionId) {
        if (connections.remove(connectionId) == null) {
            return;
        }
        subscribers.values().forEach(set -> set.remove(connectionId));
        List<ServiceKey> affected = new ArrayList<>();
        published.forEach((key, byConnection) -> {
            if (byConnection.remove(connectionId) != null) {
                affected.add(key);
            }
        });
        affected.forEach(this::changed);
        LOG.debug("Nacos stand-in: connection {} closed, {} service(s) changed", connectionId, affected.size());
    }

    @Override
    public String toString() {
        return "NacosStandIn{" + address() + (username == null ? "" : ", auth") + "}";
    }

    /** Tells whether a thread belongs to a stand-in. */
    static boolean isStandInThread(Thread thread) {
        return thread.getName().startsWith(THREAD_PREFIX);
    }
}
