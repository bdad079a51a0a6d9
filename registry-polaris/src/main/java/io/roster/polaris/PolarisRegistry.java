package io.roster.polaris;

import com.tencent.polaris.api.core.ConsumerAPI;
import com.tencent.polaris.api.core.ProviderAPI;
import com.tencent.polaris.api.exception.ErrorCode;
import com.tencent.polaris.api.exception.PolarisException;
import com.tencent.polaris.api.exception.ServerCodes;
import com.tencent.polaris.api.plugin.registry.AbstractResourceEventListener;
import com.tencent.polaris.api.plugin.registry.ResourceFilter;
import com.tencent.polaris.api.plugin.server.ServerConnector;
import com.tencent.polaris.api.pojo.Instance;
import com.tencent.polaris.api.pojo.RegistryCacheValue;
import com.tencent.polaris.api.pojo.ServiceEventKey;
import com.tencent.polaris.api.pojo.ServiceInfo;
import com.tencent.polaris.api.pojo.ServiceKey;
import com.tencent.polaris.api.rpc.GetAllInstancesRequest;
import com.tencent.polaris.api.rpc.GetServicesRequest;
import com.tencent.polaris.api.rpc.InstanceDeregisterRequest;
import com.tencent.polaris.api.rpc.InstanceHeartbeatRequest;
import com.tencent.polaris.api.rpc.InstanceRegisterRequest;
import com.tencent.polaris.api.rpc.InstanceRegisterResponse;
import com.tencent.polaris.api.rpc.InstancesResponse;
import com.tencent.polaris.client.api.SDKContext;
import com.tencent.polaris.factory.api.DiscoveryAPIFactory;
import com.tencent.polaris.factory.config.ConfigurationImpl;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Options;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Failures;
import io.roster.spi.Periodic;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * A registry on Polaris (Tencent's service governance registry), through the Polaris Java SDK, in the layout of Go
 * Kratos's {@code contrib/polaris} ({@link PolarisLayout}): one Polaris instance per endpoint in service
 * {@code <name>}, grouped back into one instance by the {@code merge} metadata key.
 *
 * <p>Liveness is Polaris's heartbeat health check: every instance is registered with a TTL (1–60 s) and this
 * registry sends a heartbeat for each of its Polaris instances every TTL; the server marks an instance unhealthy
 * after three TTLs without one. Heartbeats are this registry's own, not the SDK's automatic ones
 * ({@code registerInstance}), because the SDK keeps re-registering the <em>first</em> request it saw for an
 * address (an update registered later is lost on its re-registration), waits for two failed heartbeats before it
 * re-registers, retries at the fixed TTL without backoff, and re-registers on any failure. Here a heartbeat that
 * the server answers "not found" (after an expiry clean-up or a server restart) makes the registry register the
 * instance again at once, with backoff and no ceiling, until it succeeds or the instance is deregistered;
 * {@code deregister} and {@code close} stop the heartbeats first.
 *
 * <p>Discovery returns healthy, non-isolated instances; watches re-read the SDK's cache when the SDK reports a change
 * of a watched service, and once a second.
 *
 * <pre>{@code
 * try (Registry registry = PolarisRegistry.builder().address("10.0.0.1:8091").namespace("default").build()) { ... }
 * // or Registries.open("polaris://10.0.0.1:8091?namespace=default&ttl=5s")
 * }</pre>
 */
public final class PolarisRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(PolarisRegistry.class);
    /** How often a watch re-reads the SDK's cache even without a change event. */
    private static final Duration RESYNC = Duration.ofSeconds(1);

    private final SDKContext context;
    private final boolean ownsContext;
    private final ConsumerAPI consumer;
    private final ProviderAPI provider;
    private final String namespace;
    private final String token;
    private final int ttl;
    private final long timeoutMs;
    private final PolarisLayout layout;
    private final List<String> registrySchemes;
    private final ScheduledExecutorService scheduler;
    /** The heartbeat and re-registration of each registered instance, by name and id; guarded by registrationLock. */
    private final Map<String, Keeper> keepers = new HashMap<>();
    /** Deregistrations that failed, to finish once Polaris answers; guarded by registrationLock. */
    private final Map<String, InstanceDeregisterRequest> unfinished = new HashMap<>();
    private final RetryTask finisher;
    private final List<PolarisWatch> watches = new CopyOnWriteArrayList<>();

    private PolarisRegistry(Builder b, SDKContext context, boolean ownsContext, String description) {
        super(description);
        this.context = context;
        this.ownsContext = ownsContext;
        this.namespace = b.namespace;
        this.token = b.token;
        this.ttl = (int) b.ttl.toSeconds();
        this.timeoutMs = b.timeout.toMillis();
        this.layout = new PolarisLayout(b.weight);
        this.registrySchemes = List.copyOf(b.registrySchemes);
        ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(2,
                new DaemonThreadFactory("roster-polaris"));
        executor.setRemoveOnCancelPolicy(true);
        executor.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        this.scheduler = executor;
        this.finisher = new RetryTask("finish deregistrations on " + description, scheduler, Backoff.defaults(),
                this::finishDeregistrations);
        this.consumer = DiscoveryAPIFactory.createConsumerAPIByContext(context);
        this.provider = DiscoveryAPIFactory.createProviderAPIByContext(context);
        // The SDK's own cache-change notification, one listener per registry (the SDK cannot remove listeners, so it
        // goes quiet on close); it only triggers re-reads, on this registry's threads.
        context.getExtensions().getLocalRegistry().registerResourceListener(new AbstractResourceEventListener() {
            @Override
            public void onResourceAdd(ServiceEventKey key, RegistryCacheValue value) {
                changed(key);
            }

            @Override
            public void onResourceUpdated(ServiceEventKey key, RegistryCacheValue before, RegistryCacheValue after) {
                changed(key);
            }

            @Override
            public void onResourceDeleted(ServiceEventKey key, RegistryCacheValue before) {
                changed(key);
            }
        });
    }

    /**
     * Starts a builder.
     *
     * @return a builder with the defaults: namespace {@code default}, TTL 5 s, weight 100, timeout 3 s
     */
    public static Builder builder() {
        return new Builder();
    }

    // ---- registration -----------------------------------------------------------------------------------------

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        PolarisLayout.check(instance);
        String key = key(instance);
        List<InstanceRegisterRequest> parts = layout.parts(instance, namespace, token, ttl);
        Keeper old = keepers.remove(key);
        if (old != null) {
            old.close();
        }
        Set<String> addresses = new LinkedHashSet<>();
        parts.forEach(p -> addresses.add(address(p)));
        parts.forEach(p -> unfinished.remove(address(p))); // registered again: an old deregistration must not win
        if (old != null) {
            for (InstanceRegisterRequest before : old.parts) {
                if (!addresses.contains(address(before))) {
                    deregisterOrRemember(before);
                }
            }
        }
        List<InstanceRegisterRequest> sent = new ArrayList<>();
        try {
            for (InstanceRegisterRequest part : parts) {
                send(part, true);
                sent.add(part);
            }
        } catch (RuntimeException e) {
            // Leave nothing half-registered that no heartbeat keeps alive.
            for (InstanceRegisterRequest part : sent) {
                deregisterOrRemember(part);
            }
            throw failure("register " + key, e, "instance");
        }
        Keeper keeper = new Keeper(key, parts);
        keepers.put(key, keeper);
        keeper.start();
    }

    /**
     * Registers one Polaris instance. A server that already holds the address keeps its old record (Polaris answers
     * "existed" and changes nothing), so when {@code overwrite} is set the old record is removed and the new one sent:
     * an update of this instance, or what a previous run of this process left behind.
     */
    @SuppressWarnings("deprecation") // register without the SDK's automatic heartbeats: see the class comment
    private void send(InstanceRegisterRequest part, boolean overwrite) {
        part.setTimeoutMs(timeoutMs);
        InstanceRegisterResponse response = provider.register(part);
        if (response.isExists() && overwrite) {
            deregister(part);
            response = provider.register(part);
            if (response.isExists()) {
                LOG.warn("{}: {} is held by another registration that came back at once; kept as it is",
                        description(), address(part));
            }
        }
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        String key = key(instance);
        if (!owned) {
            // Polaris deregisters by address: another process's instance there must be left alone.
            LOG.debug("{}: {} was not registered here, nothing to deregister", description(), key);
            return;
        }
        Keeper keeper = keepers.remove(key);
        if (keeper == null) {
            return;
        }
        keeper.close();
        RuntimeException failed = null;
        for (InstanceRegisterRequest part : keeper.parts) {
            try {
                deregister(part);
            } catch (RuntimeException e) {
                unfinished.put(address(part), deregistration(part));
                failed = failed == null ? e : failed;
            }
        }
        if (failed != null) {
            finisher.trigger();
            throw failure("deregister " + key + " (finished in the background once Polaris answers)", failed,
                    "instance");
        }
    }

    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        Map<ServiceInstance, List<InstanceRegisterRequest>> parts = new HashMap<>();
        for (ServiceInstance instance : instances) {
            Keeper keeper = keepers.remove(key(instance));
            if (keeper != null) {
                keeper.close();
                parts.put(instance, keeper.parts);
            }
        }
        keepers.values().forEach(Keeper::close);
        keepers.clear();
        List<ServiceInstance> left = new ArrayList<>(deregisterConcurrently(parts.keySet(), 8,
                Duration.ofMillis(timeoutMs * 2), instance -> parts.get(instance).forEach(this::deregister)));
        for (InstanceDeregisterRequest d : unfinished.values()) {
            try {
                deregister(fromDeregistration(d));
            } catch (RuntimeException e) {
                left.add(null);
            }
        }
        unfinished.clear();
        if (!left.isEmpty()) {
            LOG.warn("{}: {} instance(s) not deregistered on close; without heartbeats Polaris marks them unhealthy "
                    + "after 3 x {} s", description(), left.size(), ttl);
        }
    }

    private void deregisterOrRemember(InstanceRegisterRequest part) {
        try {
            deregister(part);
        } catch (RuntimeException e) {
            unfinished.put(address(part), deregistration(part));
            finisher.trigger();
        }
    }

    /**
     * Removes one Polaris instance by namespace, service, host and port (Polaris's own key for it). Sent straight to
     * the SDK's server connector: the SDK's deregister flow logs the whole request, service token included.
     */
    private void deregister(InstanceRegisterRequest part) {
        InstanceDeregisterRequest request = deregistration(part);
        ServerConnector connector = context.getExtensions().getServerConnector();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (true) {
            try {
                connector.deregisterInstance(request.getRequest());
                return;
            } catch (PolarisException e) {
                if (notFound(e)) {
                    return;
                }
                if (!(e instanceof com.tencent.polaris.api.exception.RetriableException)
                        || System.nanoTime() > deadline) {
                    throw e;
                }
            }
            try {
                Thread.sleep(100); // the SDK's own flows retry a retriable failure the same way
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PolarisException(ErrorCode.API_TIMEOUT, "interrupted");
            }
        }
    }

    private InstanceDeregisterRequest deregistration(InstanceRegisterRequest part) {
        InstanceDeregisterRequest request = new InstanceDeregisterRequest();
        request.setNamespace(part.getNamespace());
        request.setService(part.getService());
        request.setHost(part.getHost());
        request.setPort(part.getPort());
        request.setToken(part.getToken());
        request.setTimeoutMs(timeoutMs);
        return request;
    }

    private static InstanceRegisterRequest fromDeregistration(InstanceDeregisterRequest d) {
        InstanceRegisterRequest part = new InstanceRegisterRequest();
        part.setNamespace(d.getNamespace());
        part.setService(d.getService());
        part.setHost(d.getHost());
        part.setPort(d.getPort());
        part.setToken(d.getToken());
        return part;
    }

    private void finishDeregistrations() {
        registrationLock().lock();
        try {
            if (isClosed()) {
                return;
            }
            for (InstanceDeregisterRequest d : new ArrayList<>(unfinished.values())) {
                deregister(fromDeregistration(d));
                unfinished.remove(address(d.getService(), d.getHost(), d.getPort()));
            }
        } finally {
            registrationLock().unlock();
        }
    }

    /** The heartbeats and re-registration of one registered instance. */
    private final class Keeper {
        final String key;
        final List<InstanceRegisterRequest> parts;
        private final RetryTask reRegister;
        private ScheduledFuture<?> heartbeat;
        private volatile boolean closed;
        private volatile boolean unreachable;

        Keeper(String key, List<InstanceRegisterRequest> parts) {
            this.key = key;
            this.parts = parts;
            Duration cap = Duration.ofSeconds(Math.min(5, ttl));
            this.reRegister = new RetryTask("re-register " + key + " on " + description(), scheduler,
                    new Backoff(Duration.ofMillis(100), cap), this::reRegister);
        }

        void start() {
            Duration period = Duration.ofSeconds(ttl);
            heartbeat = Periodic.atFixedRate(scheduler, "heartbeat of " + key + " on " + description(), period,
                    period, this::beat);
        }

        void close() {
            closed = true;
            if (heartbeat != null) {
                heartbeat.cancel(false);
            }
            reRegister.close();
        }

        @SuppressWarnings("deprecation") // explicit heartbeats: see the class comment
        private void beat() {
            if (closed || reRegister.isBusy()) {
                return;
            }
            for (InstanceRegisterRequest part : parts) {
                if (closed) {
                    return;
                }
                InstanceHeartbeatRequest request = new InstanceHeartbeatRequest();
                request.setNamespace(part.getNamespace());
                request.setService(part.getService());
                request.setHost(part.getHost());
                request.setPort(part.getPort());
                request.setToken(part.getToken());
                request.setTimeoutMs(timeoutMs);
                try {
                    provider.heartbeat(request);
                    if (unreachable) {
                        unreachable = false;
                        LOG.info("{}: heartbeats of {} reach Polaris again", description(), key);
                    }
                } catch (PolarisException e) {
                    if (notFound(e)) {
                        LOG.warn("{}: Polaris no longer knows {} ({}); registering it again", description(),
                                address(part), e.getMessage());
                        reRegister.trigger();
                        return;
                    }
                    if (!unreachable) {
                        unreachable = true;
                        LOG.warn("{}: heartbeat of {} failed, retrying every {} s: {}", description(), key, ttl,
                                Failures.describe(e));
                    } else {
                        LOG.debug("{}: heartbeat of {} failed: {}", description(), key, Failures.describe(e));
                    }
                }
            }
        }

        /** Registers every part again, under the registration lock, unless deregistered meanwhile. */
        private void reRegister() {
            registrationLock().lock();
            try {
                if (closed || isClosed() || keepers.get(key) != this) {
                    return;
                }
                for (InstanceRegisterRequest part : parts) {
                    send(part, false);
                }
                LOG.info("{}: {} registered again", description(), key);
            } finally {
                registrationLock().unlock();
            }
        }
    }

    private static boolean notFound(PolarisException e) {
        int code = e.getServerErrCode();
        return e.getCode() == ErrorCode.SERVICE_NOT_FOUND || e.getCode() == ErrorCode.INSTANCE_NOT_FOUND
                || code == ServerCodes.NOT_FOUND_RESOURCE || code == ServerCodes.NOT_FOUND_SERVICE
                || code == NOT_FOUND_INSTANCE;
    }

    /** Polaris's {@code NotFoundInstance}, which the SDK has no constant for. */
    private static final int NOT_FOUND_INSTANCE = 400304;

    // ---- discovery ---------------------------------------------------------------------------------------------

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        return read(name, Map.of());
    }

    /**
     * Reads a name's instances from the SDK: its contrib/polaris service, and the {@code <name><scheme>} services of
     * contrib/registry/polaris when configured.
     */
    List<ServiceInstance> read(String name, Map<String, ServiceInstance> previous) {
        List<ServiceInstance> result = new ArrayList<>(PolarisLayout.read(name, instances(name), previous));
        for (String scheme : registrySchemes) {
            result.addAll(PolarisLayout.readRegistryLayout(name, scheme, instances(name + scheme)));
        }
        return result;
    }

    /** The names of the Polaris services a requested name is read from. */
    List<String> services(String name) {
        List<String> services = new ArrayList<>();
        services.add(name);
        registrySchemes.forEach(s -> services.add(name + s));
        return services;
    }

    /** Every Polaris instance of a Polaris service, healthy or not, as the SDK holds it; none when it is unknown. */
    List<Instance> instances(String service) {
        GetAllInstancesRequest request = new GetAllInstancesRequest();
        request.setNamespace(namespace);
        request.setService(service);
        request.setTimeoutMs(timeoutMs);
        try {
            InstancesResponse response = consumer.getAllInstances(request);
            if (response.getServiceInstances() == null || !response.getServiceInstances().isInitialized()) {
                throw unavailable("read service '" + service + "'", noAnswer());
            }
            Instance[] all = response.getInstances();
            return all == null ? List.of() : Arrays.asList(all);
        } catch (PolarisException e) {
            if (e.getCode() == ErrorCode.SERVICE_NOT_FOUND) {
                return List.of();
            }
            throw failure("read service '" + service + "'", e, "name");
        }
    }

    @Override
    protected Collection<String> doServices() {
        // Polaris keeps a service after its last instance left: list only those with an instance to serve.
        List<String> names = new ArrayList<>();
        for (String name : polarisServices()) {
            if (instances(name).stream().anyMatch(PolarisLayout::visible)) {
                names.add(name);
            }
        }
        return names;
    }

    /** The names of the namespace's Polaris services, with instances or not. */
    List<String> polarisServices() {
        GetServicesRequest request = new GetServicesRequest();
        request.setNamespace(namespace);
        request.setTimeoutMs(timeoutMs);
        List<ServiceInfo> services;
        try {
            services = consumer.getServices(request).getServices();
        } catch (PolarisException e) {
            throw failure("list services", e, "namespace");
        }
        ServiceEventKey listKey = new ServiceEventKey(new ServiceKey(namespace, ""), ServiceEventKey.EventType.SERVICE);
        if ((services == null || services.isEmpty()) && !context.getExtensions().getLocalRegistry()
                .getServices(new ResourceFilter(listKey, false, true)).isInitialized()) {
            throw unavailable("list services", noAnswer());
        }
        List<String> names = new ArrayList<>();
        for (ServiceInfo service : services == null ? List.<ServiceInfo>of() : services) {
            if (service.getService() != null && namespace.equals(service.getNamespace())) {
                names.add(service.getService());
            }
        }
        return names;
    }

    /**
     * What the SDK's empty answer means when it holds nothing cached: after a timeout it returns what its cache has,
     * and with nothing there an empty, uninitialized answer instead of an error, which would read as "no instances".
     */
    private TimeoutException noAnswer() {
        return new TimeoutException("no answer from Polaris within " + timeoutMs + " ms, and nothing cached");
    }

    /** The namespace read, for {@link PolarisInspector}. */
    String namespace() {
        return namespace;
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        PolarisWatch watch = new PolarisWatch(this, name, sink);
        watches.add(watch);
        try {
            watch.refreshOrThrow();
        } catch (RuntimeException e) {
            watches.remove(watch);
            throw e;
        }
        ScheduledFuture<?> resync = Periodic.withFixedDelay(scheduler, "resync of watch '" + name + "' on "
                + description(), RESYNC, RESYNC, watch::refresh);
        return () -> {
            resync.cancel(false);
            watches.remove(watch);
            watch.close();
        };
    }

    private void changed(ServiceEventKey key) {
        if (isClosed() || key.getEventType() != ServiceEventKey.EventType.INSTANCE
                || !namespace.equals(key.getNamespace())) {
            return;
        }
        for (PolarisWatch watch : watches) {
            if (watch.follows(key.getService())) {
                try {
                    scheduler.execute(Periodic.guard("watch of '" + key.getService() + "'", watch::refresh));
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    return; // closing
                }
            }
        }
    }

    // ---- lifecycle ---------------------------------------------------------------------------------------------

    /** Deregistering everything (twice the timeout, concurrently) and destroying the SDK context. */
    @Override
    protected Duration closeTimeout() {
        return Duration.ofMillis(timeoutMs * 3 + 5_000);
    }

    @Override
    protected void shutdown() {
        finisher.close();
        scheduler.shutdownNow();
        if (ownsContext) {
            try {
                context.destroy();
            } catch (RuntimeException e) {
                LOG.warn("{}: shutting the Polaris SDK down failed: {}", description(), Failures.describe(e));
            }
        }
    }

    /**
     * Stops as a crashed process would: heartbeats stop, nothing is deregistered, so Polaris marks the instances
     * unhealthy after three TTLs.
     */
    void kill() {
        abandon();
    }

    /** What a failure of the SDK means for the caller. */
    private RegistryException failure(String action, RuntimeException e, String field) {
        if (!(e instanceof PolarisException)) {
            return failure(action, e);
        }
        PolarisException p = (PolarisException) e;
        int code = p.getServerErrCode();
        if (code / 1000 == 401 || code / 1000 == 403 || p.getCode() == ErrorCode.UNAUTHORIZED) {
            return new RegistryAccessDeniedException(action + " refused by " + description() + ": "
                    + Failures.describe(p) + " (check the token)", p);
        }
        if (p.getCode() == ErrorCode.SERVER_USER_ERROR && code / 1000 == 400) {
            return new InvalidInstanceException(field, "is refused by Polaris", "(" + Failures.describe(p) + ")");
        }
        return unavailable(action, p);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    private static String address(InstanceRegisterRequest part) {
        return address(part.getService(), part.getHost(), part.getPort());
    }

    private static String address(String service, String host, Integer port) {
        return service + "@" + host + ":" + port;
    }

    /**
     * Builds a {@link PolarisRegistry}. Either give the Polaris server addresses (and optionally an access token and
     * TLS files), and the registry creates its own SDK context and destroys it on close; or give an existing
     * {@link SDKContext}, which is used as it is and left open.
     */
    public static final class Builder {
        private static final Pattern NAMESPACE = Pattern.compile("[A-Za-z0-9_.:-]{1,128}");
        private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");
        private static final Pattern ADDRESS = Pattern.compile("([^:,\\s]+|\\[[0-9A-Fa-f:.]+]):\\d{1,5}");

        private final List<String> addresses = new ArrayList<>();
        private SDKContext context;
        private String namespace = "default";
        private String token;
        private String accessToken;
        private Duration ttl = Duration.ofSeconds(5);
        private Duration timeout = Duration.ofSeconds(3);
        private Duration refresh;
        private int weight = 100;
        private List<String> registrySchemes = List.of();
        private Path caFile;
        private Path certFile;
        private Path keyFile;

        private Builder() {
        }

        /**
         * Adds a Polaris server.
         *
         * @param address {@code host:port} of the server's gRPC port (8091 by default in Polaris)
         * @return this builder
         */
        public Builder address(String address) {
            addresses.add(Options.required(address, "address"));
            return this;
        }

        /**
         * Uses an existing SDK context instead of creating one; it is left open on close. Its own servers, access
         * token and TLS settings apply, so they cannot be set on this builder too.
         *
         * @param context the SDK context
         * @return this builder
         */
        public Builder context(SDKContext context) {
            this.context = Options.required(context, "context");
            return this;
        }

        /**
         * Sets the namespace every instance is registered in and read from.
         *
         * @param namespace such as {@code default} (the default, as Kratos)
         * @return this builder
         */
        public Builder namespace(String namespace) {
            this.namespace = Options.required(namespace, "namespace");
            return this;
        }

        /**
         * Sets the service token sent with every registration, heartbeat and deregistration (Kratos's
         * {@code WithServiceToken}); it is never logged or shown.
         *
         * @param token the token
         * @return this builder
         */
        public Builder token(String token) {
            this.token = Options.required(token, "token");
            return this;
        }

        /**
         * Sets the access token of Polaris's authentication ({@code X-Polaris-Token}) for the SDK context this
         * registry creates; it is never logged or shown.
         *
         * @param accessToken the token of a Polaris user or group
         * @return this builder
         */
        public Builder accessToken(String accessToken) {
            this.accessToken = Options.required(accessToken, "accessToken");
            return this;
        }

        /**
         * Sets the heartbeat TTL: a heartbeat goes out every TTL, and Polaris marks an instance unhealthy after three
         * TTLs without one.
         *
         * @param ttl whole seconds from 1 to 60 (Polaris's range); 5 s by default
         * @return this builder
         */
        public Builder ttl(Duration ttl) {
            this.ttl = Options.required(ttl, "ttl");
            return this;
        }

        /**
         * Sets how long one request to Polaris may take.
         *
         * @param timeout a positive duration; 3 s by default
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Options.required(timeout, "timeout");
            return this;
        }

        /**
         * Sets how often the SDK context this registry creates refreshes its cache of each service it reads (and of
         * the service list) from the server: the delay after which discovery and watches see a change.
         *
         * @param refresh at least 2 s (the SDK refuses less); the SDK's default, 2 s, when not set
         * @return this builder
         */
        public Builder refresh(Duration refresh) {
            this.refresh = Options.required(refresh, "refresh");
            return this;
        }

        /**
         * Sets the Polaris weight of instances whose metadata has no {@code weight}. Kratos's default of 0 starves
         * instances; Polaris's own default is 100.
         *
         * @param weight 1 to 10000; 100 by default
         * @return this builder
         */
        public Builder weight(int weight) {
            this.weight = weight;
            return this;
        }

        /**
         * Also reads the services that Kratos's other Polaris variant, {@code contrib/registry/polaris}, writes: for
         * each scheme given, {@code getService(name)} and {@code watch(name)} read {@code <name><scheme>} too (such
         * as {@code helloworldgrpc}), one instance per Polaris instance. Registration always uses the
         * contrib/polaris layout.
         *
         * @param schemes such as {@code grpc, http}; none by default
         * @return this builder
         */
        public Builder registrySchemes(List<String> schemes) {
            this.registrySchemes = List.copyOf(Options.required(schemes, "registrySchemes"));
            return this;
        }

        /**
         * Connects over TLS, verifying the server against a CA (the SDK's {@code trustedCAFile}).
         *
         * @param caFile a PEM file
         * @return this builder
         */
        public Builder caFile(Path caFile) {
            this.caFile = Options.required(caFile, "caFile");
            return this;
        }

        /**
         * Presents a client certificate over TLS (the SDK's {@code certFile} and {@code keyFile}).
         *
         * @param certFile a PEM certificate chain
         * @param keyFile its PEM private key
         * @return this builder
         */
        public Builder clientCertificate(Path certFile, Path keyFile) {
            this.certFile = Options.required(certFile, "certFile");
            this.keyFile = Options.required(keyFile, "keyFile");
            return this;
        }

        /**
         * Checks the options, creates the SDK context if none was given, and opens the registry.
         *
         * @return the open registry
         * @throws InvalidOptionException naming a bad option
         * @throws RegistryUnavailableException when the SDK cannot start
         */
        public PolarisRegistry build() {
            check();
            if (context != null) {
                return new PolarisRegistry(this, context, false, "polaris (given SDKContext, namespace " + namespace
                        + ")");
            }
            String description = "polaris at " + String.join(",", addresses) + " (namespace " + namespace + ")";
            SDKContext created;
            try {
                ConfigurationImpl config = configuration();
                created = SDKContext.initContextByConfig(config);
                if (accessToken != null) {
                    // Set after the SDK logged its configuration at start-up, so that the token is not in that log;
                    // the connector reads it from this object on every request.
                    config.getGlobal().getServerConnector().setToken(accessToken);
                }
            } catch (PolarisException | IllegalArgumentException e) {
                throw new RegistryUnavailableException("cannot start the Polaris SDK for " + description + ": "
                        + Failures.describe(e), e);
            }
            try {
                return new PolarisRegistry(this, created, true, description);
            } catch (RuntimeException e) {
                created.destroy();
                throw new RegistryUnavailableException("cannot start the Polaris SDK for " + description + ": "
                        + Failures.describe(e), e);
            }
        }

        /**
         * The SDK configuration: the SDK's built-in defaults (a {@code polaris.yml} on the class path is not read,
         * so that nothing changes behind this builder), these servers, no cache files on disk, no Prometheus
         * reporter (it would open an HTTP port per registry), no client report, the service list refreshed as often
         * as instances.
         */
        private ConfigurationImpl configuration() {
            ConfigurationImpl config = new ConfigurationImpl();
            config.setDefault();
            config.getGlobal().getServerConnector().setAddresses(new ArrayList<>(addresses));
            config.getGlobal().getAPI().setTimeout(timeout.toMillis());
            config.getGlobal().getAPI().setReportEnable(false);
            config.getGlobal().getStatReporter().setEnable(false);
            config.getConsumer().getLocalCache().setPersistEnable(false);
            if (refresh != null) {
                config.getConsumer().getLocalCache().setServiceRefreshInterval(refresh.toMillis());
            }
            config.getConsumer().getLocalCache().setServiceListRefreshInterval(
                    config.getConsumer().getLocalCache().getServiceRefreshInterval());
            if (caFile != null || certFile != null) {
                config.getGlobal().getServerConnector().setTrustedCAFile(caFile == null ? null : caFile.toString());
                config.getGlobal().getServerConnector().setCertFile(certFile == null ? null : certFile.toString());
                config.getGlobal().getServerConnector().setKeyFile(keyFile == null ? null : keyFile.toString());
            }
            return config;
        }

        private void check() {
            if (context != null && (!addresses.isEmpty() || accessToken != null || caFile != null
                    || certFile != null || refresh != null)) {
                throw new InvalidOptionException("context", "polaris: a given SDKContext brings its own servers, "
                        + "access token, TLS and refresh settings; do not set them too");
            }
            if (context == null && addresses.isEmpty()) {
                throw new InvalidOptionException("address", "polaris needs a server address such as "
                        + "127.0.0.1:8091");
            }
            for (String address : addresses) {
                if (!ADDRESS.matcher(address).matches()) {
                    throw new InvalidOptionException("address", "polaris server address must be host:port, was '"
                            + address + "'");
                }
            }
            if (namespace.isBlank()) {
                throw new InvalidOptionException("namespace", "polaris option 'namespace' must not be empty");
            }
            if (!NAMESPACE.matcher(namespace).matches()) {
                throw new InvalidOptionException("namespace", "polaris option 'namespace' must be letters, digits "
                        + "and _ . : - (at most 128), was '" + namespace + "'");
            }
            if (ttl.toNanos() % 1_000_000_000L != 0 || ttl.getSeconds() < 1 || ttl.getSeconds() > 60) {
                throw new InvalidOptionException("ttl", "polaris option 'ttl' must be whole seconds from 1 to 60 "
                        + "(Polaris's heartbeat TTL range), was " + ttl.toMillis() + " ms");
            }
            if (timeout.isZero() || timeout.isNegative()) {
                throw new InvalidOptionException("timeout", "polaris option 'timeout' must be positive");
            }
            if (refresh != null && refresh.toMillis() < 2000) {
                throw new InvalidOptionException("refresh", "polaris option 'refresh' must be at least 2 s (the "
                        + "SDK's minimum), was " + refresh.toMillis() + " ms");
            }
            if (weight < 1 || weight > PolarisLayout.MAX_WEIGHT) {
                throw new InvalidOptionException("weight", "polaris option 'weight' must be from 1 to "
                        + PolarisLayout.MAX_WEIGHT + ", was " + weight);
            }
            for (String scheme : registrySchemes) {
                if (!SCHEME.matcher(scheme).matches()) {
                    throw new InvalidOptionException("registrySchemes", "polaris option 'registrySchemes' must "
                            + "list lower-case URI schemes such as grpc, was '" + scheme + "'");
                }
            }
            for (Path file : Arrays.asList(caFile, certFile, keyFile)) {
                if (file != null && !Files.isReadable(file)) {
                    throw new InvalidOptionException("tls", "polaris TLS file " + file + " is not readable");
                }
            }
        }
    }
}
