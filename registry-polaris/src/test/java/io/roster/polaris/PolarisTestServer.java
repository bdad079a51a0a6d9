package io.roster.polaris;

import com.google.protobuf.BoolValue;
import com.google.protobuf.StringValue;
import com.google.protobuf.UInt32Value;
import com.tencent.polaris.api.exception.ServerCodes;
import com.tencent.polaris.api.pojo.ServiceKey;
import com.tencent.polaris.client.pojo.Node;
import com.tencent.polaris.specification.api.v1.service.manage.RequestProto.DiscoverRequest;
import com.tencent.polaris.specification.api.v1.service.manage.ResponseProto;
import com.tencent.polaris.specification.api.v1.service.manage.ResponseProto.DiscoverResponse;
import com.tencent.polaris.specification.api.v1.service.manage.ServiceProto;
import com.tencent.polaris.test.mock.discovery.NamingService;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.roster.testkit.FreePorts;

import java.io.IOException;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * The Polaris Java SDK's own test server, {@code polaris-test-mock-discovery} 2.0.0.0 ({@link NamingService} on gRPC),
 * extended where the contract and the recovery tests need what a real Polaris server does and the mock does not
 * (checked against polaris-server's {@code service/healthcheck} and {@code service/instance.go}):
 *
 * <ul>
 *   <li>heartbeat health: a registered instance with a heartbeat TTL is healthy, turns unhealthy after three TTLs
 *       without a heartbeat, and healthy again with the next one; optionally an instance unhealthy for longer than
 *       {@link #deleteUnhealthyAfter} is removed (Polaris's clean-up of unhealthy instances);</li>
 *   <li>a heartbeat for an unknown instance is answered with success three times, then {@code NotFoundResource}
 *       (400202), as polaris-server's {@code max404Count} does;</li>
 *   <li>instances are healthy unless registered otherwise (the mock stored "unhealthy" for a request without the
 *       field); deregistration by id compares the stored id (the mock compared the request's id with itself and
 *       removed the first instance), and a service outlives its last instance, as in Polaris;</li>
 *   <li>instance and service lists carry a revision computed from their content, so the SDK sees a change exactly
 *       when there is one (the mock sent the client's own revision back for an emptied service, so the SDK kept the
 *       old list, and a random one otherwise); listing services no longer deletes the services of other namespaces
 *       from the store (the mock called {@code removeIf} on the store's key set).</li>
 * </ul>
 *
 * <p>Everything else (rules, client reports) is the mock's. The server runs on its own threads named
 * {@code polaris-mock-*}, so that tests can tell them from the client's, on a fixed port that survives
 * {@link #restart()}, which forgets every instance, as a Polaris server with a fresh store would.
 */
final class PolarisTestServer implements AutoCloseable {
    private static final int MAX_404 = 3;

    private final int port;
    private final Set<String> accessTokens = new CopyOnWriteArraySet<>();
    private final ScheduledExecutorService checker;
    private volatile Duration deleteUnhealthyAfter;
    private volatile boolean dropHeartbeats;
    private final java.util.concurrent.atomic.AtomicLong heartbeats = new java.util.concurrent.atomic.AtomicLong();
    private volatile HealthNamingService naming;
    private Server server;
    private NioEventLoopGroup boss;
    private NioEventLoopGroup workers;
    private ExecutorService executor;

    private PolarisTestServer(int port) {
        this.port = port;
        this.checker = Executors.newSingleThreadScheduledExecutor(named("polaris-mock-health"));
    }

    /**
     * Starts a server on a free loopback port.
     *
     * @return the running server
     */
    static PolarisTestServer start() {
        PolarisTestServer server = new PolarisTestServer(FreePorts.next());
        server.startServing();
        server.checker.scheduleWithFixedDelay(server::checkHealth, 100, 100, TimeUnit.MILLISECONDS);
        return server;
    }

    int port() {
        return port;
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    /** Removes instances that stayed unhealthy this long (null: never, the default). */
    void deleteUnhealthyAfter(Duration after) {
        this.deleteUnhealthyAfter = after;
    }

    /** Answers heartbeats with success without recording them, as if they were lost on the way. */
    void dropHeartbeats(boolean drop) {
        this.dropHeartbeats = drop;
    }

    /** How many heartbeats arrived (dropped ones included). */
    long heartbeats() {
        return heartbeats.get();
    }

    /** The access tokens ({@code X-Polaris-Token}) requests carried. */
    Set<String> accessTokens() {
        return accessTokens;
    }

    /** Stops serving and starts again on the same port with an empty store. */
    synchronized void restart() {
        stopServing();
        startServing();
    }

    /** Stops serving (an outage) until {@link #restart()}. */
    synchronized void stop() {
        stopServing();
    }

    /**
     * Reads the server's own store.
     *
     * @param namespace the namespace
     * @param service the service
     * @return a copy of its instances, as stored
     */
    List<ServiceProto.Instance> instances(String namespace, String service) {
        return naming.list(new ServiceKey(namespace, service));
    }

    /** Writes an instance straight into the store, as another client's registration would. */
    void put(ServiceProto.Instance instance) {
        naming.put(instance);
    }

    /** Sets an instance's health or isolation in the store. */
    void set(String namespace, String service, String host, int port, Boolean healthy, Boolean isolated) {
        naming.setInstanceHealthyStatus(new ServiceKey(namespace, service), new Node(host, port), healthy, isolated,
                null);
    }

    static boolean isServerThread(Thread thread) {
        return thread.getName().startsWith("polaris-mock");
    }

    private synchronized void startServing() {
        naming = new HealthNamingService(this);
        ServiceProto.Instance.Builder system = ServiceProto.Instance.newBuilder()
                .setNamespace(StringValue.of("Polaris")).setHost(StringValue.of("127.0.0.1"))
                .setPort(UInt32Value.of(port)).setProtocol(StringValue.of("grpc"))
                .setHealthy(BoolValue.of(true)).setWeight(UInt32Value.of(100));
        naming.put(system.setService(StringValue.of("polaris.discover")).build());
        naming.put(system.setService(StringValue.of("polaris.healthcheck")).build());
        boss = new NioEventLoopGroup(1, named("polaris-mock-boss"));
        workers = new NioEventLoopGroup(2, named("polaris-mock-worker"));
        executor = Executors.newCachedThreadPool(named("polaris-mock-call"));
        ServerInterceptor tokens = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                              ServerCallHandler<Q, R> next) {
                String token = headers.get(Metadata.Key.of("X-Polaris-Token", Metadata.ASCII_STRING_MARSHALLER));
                if (token != null) {
                    accessTokens.add(token);
                }
                return next.startCall(call, headers);
            }
        };
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port))
                .channelType(NioServerSocketChannel.class).bossEventLoopGroup(boss).workerEventLoopGroup(workers)
                .executor(executor).addService(ServerInterceptors.intercept(naming, tokens)).build();
        try {
            server.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the Polaris test server on port " + port, e);
        }
    }

    private synchronized void stopServing() {
        if (server == null) {
            return;
        }
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
            executor.shutdownNow();
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        server = null;
    }

    private void checkHealth() {
        HealthNamingService current = naming;
        if (current != null) {
            current.checkHealth(deleteUnhealthyAfter);
        }
    }

    @Override
    public void close() {
        checker.shutdownNow();
        stopServing();
    }

    private static ThreadFactory named(String prefix) {
        AtomicInteger count = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + count.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** The mock's naming service with Polaris's health semantics; every store access under this object's lock. */
    private static final class HealthNamingService extends NamingService {
        private final Map<ServiceKey, List<ServiceProto.Instance>> store;
        /** Last heartbeat (nanoTime) and unhealthy-since by instance id. */
        private final Map<String, Long> lastBeat = new ConcurrentHashMap<>();
        private final Map<String, Long> unhealthySince = new ConcurrentHashMap<>();
        private final Map<String, Integer> unknownBeats = new ConcurrentHashMap<>();
        private final PolarisTestServer owner;

        @SuppressWarnings("unchecked")
        HealthNamingService(PolarisTestServer owner) {
            this.owner = owner;
            try {
                Field field = NamingService.class.getDeclaredField("services");
                field.setAccessible(true);
                store = (Map<ServiceKey, List<ServiceProto.Instance>>) field.get(this);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("polaris-test-mock-discovery changed: no 'services' store", e);
            }
        }

        synchronized List<ServiceProto.Instance> list(ServiceKey key) {
            return new ArrayList<>(store.getOrDefault(key, List.of()));
        }

        synchronized void put(ServiceProto.Instance instance) {
            ServiceProto.Instance stored = instance.hasId() ? instance
                    : instance.toBuilder().setId(StringValue.of(UUID.randomUUID().toString())).build();
            store.computeIfAbsent(key(instance), k -> new ArrayList<>()).add(stored);
        }

        @Override
        public synchronized void setInstanceHealthyStatus(ServiceKey svcKey, Node node, Boolean healthyStatus,
                                                          Boolean isolated, Integer weight) {
            super.setInstanceHealthyStatus(svcKey, node, healthyStatus, isolated, weight);
        }

        private static ServiceKey key(ServiceProto.Instance i) {
            return new ServiceKey(i.getNamespace().getValue(), i.getService().getValue());
        }

        private static boolean sameAddress(ServiceProto.Instance a, ServiceProto.Instance b) {
            return a.getHost().getValue().equals(b.getHost().getValue())
                    && a.getPort().getValue() == b.getPort().getValue();
        }

        @Override
        public void registerInstance(ServiceProto.Instance request,
                                     StreamObserver<ResponseProto.Response> observer) {
            ResponseProto.Response response;
            synchronized (this) {
                List<ServiceProto.Instance> instances = store.computeIfAbsent(key(request), k -> new ArrayList<>());
                ServiceProto.Instance existing = instances.stream().filter(i -> sameAddress(i, request)).findFirst()
                        .orElse(null);
                if (existing != null) {
                    response = response(ServerCodes.EXISTED_RESOURCE, existing);
                } else {
                    ServiceProto.Instance.Builder b = request.toBuilder()
                            .setId(StringValue.of(UUID.randomUUID().toString()));
                    if (!request.hasHealthy()) {
                        b.setHealthy(BoolValue.of(true)); // Polaris's default for a new instance
                    }
                    ServiceProto.Instance stored = b.build();
                    instances.add(stored);
                    lastBeat.put(stored.getId().getValue(), System.nanoTime());
                    response = response(ServerCodes.EXECUTE_SUCCESS, stored);
                }
            }
            observer.onNext(response);
            observer.onCompleted();
        }

        @Override
        public void deregisterInstance(ServiceProto.Instance request,
                                       StreamObserver<ResponseProto.Response> observer) {
            synchronized (this) {
                List<ServiceProto.Instance> instances = store.get(key(request));
                if (instances != null) {
                    String id = request.getId().getValue();
                    instances.removeIf(i -> id.isEmpty() ? sameAddress(i, request) : id.equals(i.getId().getValue()));
                }
            }
            observer.onNext(response(ServerCodes.EXECUTE_SUCCESS, request)); // deleting nothing succeeds too
            observer.onCompleted();
        }

        @Override
        public void heartbeat(ServiceProto.Instance request, StreamObserver<ResponseProto.Response> observer) {
            int code = ServerCodes.EXECUTE_SUCCESS;
            owner.heartbeats.incrementAndGet();
            synchronized (this) {
              if (!owner.dropHeartbeats) {
                List<ServiceProto.Instance> instances = store.getOrDefault(key(request), List.of());
                String id = request.getId().getValue();
                int index = -1;
                for (int i = 0; i < instances.size(); i++) {
                    ServiceProto.Instance candidate = instances.get(i);
                    if (id.isEmpty() ? sameAddress(candidate, request) : id.equals(candidate.getId().getValue())) {
                        index = i;
                        break;
                    }
                }
                String tetrad = key(request) + "@" + request.getHost().getValue() + ":"
                        + request.getPort().getValue();
                if (index < 0) {
                    int count = unknownBeats.merge(tetrad, 1, Integer::sum);
                    if (count > MAX_404) {
                        code = ServerCodes.NOT_FOUND_RESOURCE;
                    }
                } else {
                    unknownBeats.remove(tetrad);
                    ServiceProto.Instance found = instances.get(index);
                    lastBeat.put(found.getId().getValue(), System.nanoTime());
                    unhealthySince.remove(found.getId().getValue());
                    if (!found.getHealthy().getValue()) {
                        instances.set(index, found.toBuilder().setHealthy(BoolValue.of(true)).build());
                    }
                }
              }
            }
            observer.onNext(response(code, request));
            observer.onCompleted();
        }

        synchronized void checkHealth(Duration deleteAfter) {
            long now = System.nanoTime();
            for (List<ServiceProto.Instance> instances : store.values()) {
                for (int i = instances.size() - 1; i >= 0; i--) {
                    ServiceProto.Instance instance = instances.get(i);
                    int ttl = instance.getHealthCheck().getHeartbeat().getTtl().getValue();
                    String id = instance.getId().getValue();
                    Long beat = lastBeat.get(id);
                    if (ttl == 0 || beat == null) {
                        continue;
                    }
                    if (instance.getHealthy().getValue() && now - beat > TimeUnit.SECONDS.toNanos(3L * ttl)) {
                        instances.set(i, instance.toBuilder().setHealthy(BoolValue.of(false)).build());
                        unhealthySince.put(id, now);
                    } else if (!instance.getHealthy().getValue() && deleteAfter != null
                            && now - unhealthySince.getOrDefault(id, now) > deleteAfter.toNanos()) {
                        instances.remove(i);
                        lastBeat.remove(id);
                        unhealthySince.remove(id);
                    }
                }
            }
        }

        @Override
        public StreamObserver<DiscoverRequest> discover(StreamObserver<DiscoverResponse> observer) {
            StreamObserver<DiscoverRequest> mock = super.discover(observer);
            return new StreamObserver<>() {
                @Override
                public void onNext(DiscoverRequest request) {
                    switch (request.getType()) {
                        case INSTANCE:
                            observer.onNext(instances(request));
                            break;
                        case SERVICES:
                            observer.onNext(services(request));
                            break;
                        default:
                            mock.onNext(request);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    mock.onError(t);
                }

                @Override
                public void onCompleted() {
                    mock.onCompleted();
                }
            };
        }

        private synchronized DiscoverResponse instances(DiscoverRequest request) {
            ServiceProto.Service service = request.getService();
            ServiceKey key = new ServiceKey(service.getNamespace().getValue(), service.getName().getValue());
            List<ServiceProto.Instance> instances = store.get(key);
            DiscoverResponse.Builder b = DiscoverResponse.newBuilder()
                    .setType(DiscoverResponse.DiscoverResponseType.INSTANCE);
            if (instances == null) {
                return b.setCode(UInt32Value.of(ServerCodes.NOT_FOUND_RESOURCE))
                        .setInfo(StringValue.of("service " + key + " not found")).setService(service).build();
            }
            return b.setCode(UInt32Value.of(ServerCodes.EXECUTE_SUCCESS)).addAllInstances(instances)
                    .setService(service.toBuilder().setRevision(StringValue.of(revision(instances)))).build();
        }

        private synchronized DiscoverResponse services(DiscoverRequest request) {
            String namespace = request.getService().getNamespace().getValue();
            List<ServiceProto.Service> services = store.keySet().stream()
                    .filter(k -> namespace.isEmpty() || namespace.equals(k.getNamespace()))
                    .sorted((a, b) -> (a.getNamespace() + "/" + a.getService())
                            .compareTo(b.getNamespace() + "/" + b.getService()))
                    .map(k -> ServiceProto.Service.newBuilder().setNamespace(StringValue.of(k.getNamespace()))
                            .setName(StringValue.of(k.getService())).build())
                    .collect(Collectors.toList());
            return DiscoverResponse.newBuilder().setCode(UInt32Value.of(ServerCodes.EXECUTE_SUCCESS))
                    .setType(DiscoverResponse.DiscoverResponseType.SERVICES).addAllServices(services)
                    .setService(request.getService().toBuilder().setRevision(StringValue.of(revision(services))))
                    .build();
        }

        private static String revision(List<?> content) {
            return Integer.toHexString(Objects.hash(content.toArray())) + "-" + content.size();
        }

        private static ResponseProto.Response response(int code, ServiceProto.Instance instance) {
            return ResponseProto.Response.newBuilder().setCode(UInt32Value.of(code)).setInstance(instance).build();
        }
    }
}
