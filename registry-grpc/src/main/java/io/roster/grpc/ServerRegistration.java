package io.roster.grpc;

import io.grpc.Server;
import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Endpoints;
import io.roster.spi.Failures;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Registers a running {@link Server} in a registry and, on {@link #close()}, takes it out in the order that loses no
 * call: deregister first, then wait a drain period while clients see the instance leave and stop sending it new
 * calls, then shut the server down gracefully (calls in progress finish, within a grace period). Kratos deregisters
 * and stops its servers with no drain in between, so clients that have not yet seen the deregistration call a
 * server that is already refusing.
 *
 * <pre>{@code
 * Server server = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create())
 *         .addService(new GreeterImpl()).build().start();
 * ServerRegistration registration = ServerRegistration.builder(registry, server, "greeter")
 *         .version("v1.2.0").metadata("zone", "eu-west-1a")
 *         .register();
 * Runtime.getRuntime().addShutdownHook(new Thread(registration::close));
 * server.awaitTermination();
 * }</pre>
 *
 * <p>The endpoints come from the server's listening sockets: each bound port once, with the socket's address, or,
 * for a server listening on every interface ({@code 0.0.0.0}, {@code ::}), an address of this machine that others
 * can reach — a site-local (private) one of an interface that is up by preference, else a global one, else the
 * loopback address — unless {@link Builder#host(String)} says which. Thread-safe.
 */
public final class ServerRegistration implements AutoCloseable {
    /** How long {@link #close()} waits between deregistering and shutting down, unless told otherwise. */
    public static final Duration DEFAULT_DRAIN = Duration.ofSeconds(2);
    /** How long {@link #close()} lets calls in progress finish after shutting down, unless told otherwise. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(10);

    private static final Logger LOG = LoggerFactory.getLogger(ServerRegistration.class);

    private final Registry registry;
    private final Server server;
    private final ServiceInstance instance;
    private final Duration drain;
    private final Duration grace;
    private boolean closed;

    private ServerRegistration(Registry registry, Server server, ServiceInstance instance, Duration drain,
            Duration grace) {
        this.registry = registry;
        this.server = server;
        this.instance = instance;
        this.drain = drain;
        this.grace = grace;
    }

    /**
     * Starts a registration.
     *
     * @param registry the registry to register in; left open by {@link #close()}
     * @param server a started server
     * @param service the service name
     * @return a builder
     */
    public static Builder builder(Registry registry, Server server, String service) {
        return new Builder(registry, server, service);
    }

    /**
     * Returns the registered instance.
     *
     * @return the instance, with the endpoints derived from the server
     */
    public ServiceInstance instance() {
        return instance;
    }

    /**
     * Takes the server out: deregisters the instance, waits the drain period, shuts the server down gracefully and
     * waits up to the grace period for calls in progress, then forcibly. Blocks for up to drain + grace (plus a
     * moment). Never throws: a failed deregistration is logged and the shutdown goes on (the registry expires the
     * instance). Idempotent; a second call, from any thread, waits for the first.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        boolean interrupted = false;
        try {
            registry.deregister(instance);
        } catch (RuntimeException e) {
            LOG.warn("Deregistering {} failed, shutting the server down anyway: {}", instance,
                    Failures.describe(e));
        }
        try {
            Thread.sleep(drain.toMillis()); // the drain itself: clients see the instance leave meanwhile
        } catch (InterruptedException e) {
            interrupted = true;
        }
        server.shutdown();
        try {
            if (!server.awaitTermination(grace.toNanos(), TimeUnit.NANOSECONDS)) {
                LOG.warn("Server of {} still had calls after the {} ms grace period: cancelling them", instance,
                        grace.toMillis());
                server.shutdownNow();
                server.awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            interrupted = true;
            server.shutdownNow();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "ServerRegistration{" + instance + '}';
    }

    /** The endpoints of a server's listening sockets: one per bound address and port. */
    static List<URI> endpoints(List<? extends SocketAddress> sockets, String scheme, String host) {
        Set<URI> endpoints = new LinkedHashSet<>();
        for (SocketAddress socket : sockets) {
            if (socket instanceof InetSocketAddress) {
                InetSocketAddress inet = (InetSocketAddress) socket;
                String advertised = host != null ? host : hostOf(inet);
                endpoints.add(Endpoints.of(scheme, advertised, inet.getPort()));
            }
        }
        return new ArrayList<>(endpoints);
    }

    private static String hostOf(InetSocketAddress socket) {
        InetAddress address = socket.getAddress();
        if (address == null || address.isAnyLocalAddress()) {
            address = AdvertisedHost.pick();
        }
        return address.getHostAddress();
    }

    /**
     * Configures a {@link ServerRegistration}. Not thread-safe.
     */
    public static final class Builder {
        private final Registry registry;
        private final Server server;
        private final ServiceInstance.Builder instance;
        private final Map<String, String> metadata = new LinkedHashMap<>();
        private final List<String> endpoints = new ArrayList<>();
        private String scheme = DiscoveryNameResolverProvider.PLAINTEXT_ENDPOINT_SCHEME;
        private String host;
        private Duration drain = DEFAULT_DRAIN;
        private Duration grace = DEFAULT_GRACE;

        private Builder(Registry registry, Server server, String service) {
            this.registry = Objects.requireNonNull(registry, "registry");
            this.server = Objects.requireNonNull(server, "server");
            this.instance = ServiceInstance.builder().name(service);
        }

        /**
         * Sets the instance id.
         *
         * @param id the id; a random UUID when unset
         * @return this builder
         */
        public Builder id(String id) {
            instance.id(id);
            return this;
        }

        /**
         * Sets the version.
         *
         * @param version such as {@code v1.2.0}
         * @return this builder
         */
        public Builder version(String version) {
            instance.version(version);
            return this;
        }

        /**
         * Adds a metadata entry, such as {@code zone} or {@code weight}.
         *
         * @param key the key
         * @param value the value
         * @return this builder
         */
        public Builder metadata(String key, String value) {
            metadata.put(key, value);
            return this;
        }

        /**
         * Sets the scheme of the endpoints derived from the server.
         *
         * @param scheme {@code grpc} (the default) for a plaintext server, {@code grpcs} for a TLS one
         * @return this builder
         */
        public Builder endpointScheme(String scheme) {
            this.scheme = Objects.requireNonNull(scheme, "scheme");
            return this;
        }

        /**
         * Sets the host to advertise for sockets that listen on every interface, instead of the address picked
         * from this machine's interfaces.
         *
         * @param host an IP address or a host name that clients can reach
         * @return this builder
         */
        public Builder host(String host) {
            this.host = Objects.requireNonNull(host, "host");
            return this;
        }

        /**
         * Registers these endpoints instead of those derived from the server's sockets: for a server behind an
         * address translation, or one whose transport has no network address (in-process servers in tests).
         *
         * @param endpoint such as {@code grpc://10.0.0.5:9000}
         * @return this builder
         */
        public Builder endpoint(String endpoint) {
            endpoints.add(Objects.requireNonNull(endpoint, "endpoint"));
            return this;
        }

        /**
         * Sets how long {@link ServerRegistration#close()} waits after deregistering before it shuts the server
         * down: at least the time the registry takes to tell clients (a watch: well under a second for etcd,
         * ZooKeeper, Consul, Nacos, Kubernetes; Eureka clients poll).
         *
         * @param drain zero or more; {@link ServerRegistration#DEFAULT_DRAIN} (2 s) by default
         * @return this builder
         * @throws InvalidOptionException when null or negative
         */
        public Builder drain(Duration drain) {
            if (drain == null || drain.isNegative()) {
                throw new InvalidOptionException("drain", "drain must be zero or positive (was " + drain + ")");
            }
            this.drain = drain;
            return this;
        }

        /**
         * Sets how long calls in progress may take to finish once the server is shut down; after it they are
         * cancelled.
         *
         * @param grace zero or more; {@link ServerRegistration#DEFAULT_GRACE} (10 s) by default
         * @return this builder
         * @throws InvalidOptionException when null or negative
         */
        public Builder grace(Duration grace) {
            if (grace == null || grace.isNegative()) {
                throw new InvalidOptionException("grace", "grace must be zero or positive (was " + grace + ")");
            }
            this.grace = grace;
            return this;
        }

        /**
         * Builds the instance from the server's sockets and registers it.
         *
         * @return the registration; close it to take the server out
         * @throws io.roster.InvalidInstanceException when the instance is not valid (nothing is registered)
         * @throws InvalidOptionException when the server is not started or has no network socket and no endpoint
         *     was given
         * @throws io.roster.RegistryException when the registry fails to register it
         */
        public ServerRegistration register() {
            instance.metadata(metadata).endpoints(List.of());
            if (!endpoints.isEmpty()) {
                endpoints.forEach(instance::endpoint);
            } else {
                List<? extends SocketAddress> sockets;
                try {
                    sockets = server.getListenSockets();
                } catch (IllegalStateException e) {
                    throw new InvalidOptionException("server", "the server is not started: start it before "
                            + "registering it", e);
                }
                List<URI> derived = endpoints(sockets, scheme, host);
                if (derived.isEmpty()) {
                    throw new InvalidOptionException("server", "the server listens on no network socket ("
                            + sockets + "): give its endpoints with endpoint(...)");
                }
                instance.endpoints(derived);
            }
            ServiceInstance built = instance.build();
            registry.register(built);
            return new ServerRegistration(registry, server, built, drain, grace);
        }
    }
}
