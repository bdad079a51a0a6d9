package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Options;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Failures;
import io.roster.spi.Http;
import io.roster.spi.Periodic;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A registry on Apache ServiceComb's service-center ({@code servicecomb://127.0.0.1:30100}), in Go Kratos's layout,
 * so that Java and Go services on one service-center see each other, with the discovery Kratos lacks.
 *
 * <ul>
 *   <li><b>Registration</b>: the microservice {@code {serviceName, appId, version, environment, framework}} is
 *       looked up ({@code existence}) or created; the instance is written with its id, its endpoints as written,
 *       Kratos's properties {@code appId}/{@code environment} and our metadata beside them, and a push health
 *       check {@code {interval, times}}: service-center drops it after interval × (times + 1) without heartbeat
 *       (default 30 s × 4). See {@link ServiceCombFormat} for versions such as {@code v1.2.0}, which service-center
 *       cannot hold as written. Registering the same id again updates its properties, or rewrites it when its
 *       endpoints or version changed.</li>
 *   <li><b>Keepalive</b>: one heartbeat per instance every interval ({@code PUT .../heartbeat}, asynchronous).
 *       When service-center no longer knows the instance (error 400017 or 400012: expired after an outage, or a
 *       server that lost its data), the microservice and the instance are registered again, with backoff and no
 *       ceiling, until {@code deregister} or {@code close}; Kratos keeps beating in vain.</li>
 *   <li><b>Discovery</b>: {@code find} by app, name and environment (every version), live ({@code UP}) instances
 *       only; an unknown service is an empty list. Watches ({@link ServiceCombWatch}) deliver full lists, a first
 *       list even when empty, re-read on every websocket event and reconnect, and keep the last list through an
 *       outage. {@code services()} lists the app's microservices that have a live instance.</li>
 *   <li><b>Security</b>: HTTPS (JDK trust store, a CA file or an SSL context), and service-center's RBAC: a token
 *       fetched with the URI's user and password (again after it expires), or a given token. Neither ever appears
 *       in logs, messages or {@code toString()}.</li>
 * </ul>
 *
 * <p>The client is the v4 REST API on {@code io.roster.spi.Http} (at most 16 connections per address, all closed by
 * {@link #close()} on any Java) and the watch on {@code java.net.http.WebSocket} (a JDK client per websocket, ended
 * with it), not {@code org.apache.servicecomb:service-center-client} (2.8.30, the newest on Maven Central): that
 * client brings
 * Apache HttpClient 4, Guava, Spring core, Archaius with Commons Configuration 1, Netty's native BoringSSL for five
 * platforms and a second websocket library, and its registration and watch classes run their own executors and
 * event bus, so it could give neither one heartbeat per instance under our control nor a {@code close()} that
 * ends every thread and connection within a bound. The few calls needed are small.
 *
 * <pre>{@code
 * try (Registry registry = Registries.open("servicecomb://127.0.0.1:30100?app=shop&environment=production")) { ... }
 * }</pre>
 */
public final class ServiceCombRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceCombRegistry.class);
    /** The most heartbeats in flight at once. */
    static final int HEARTBEAT_LANES = 8;

    private final ServiceCombConfig config;
    private final ServiceCombClient client;
    private final ScheduledExecutorService heartbeats;
    private final ScheduledExecutorService watchScheduler;
    private final ScheduledFuture<?> heartbeat;
    private final ServiceCombWatch watch;
    private final Map<String, Keepalive> keepalives = new ConcurrentHashMap<>(); // changed under registrationLock
    private final Map<String, Deletion> unfinished = new ConcurrentHashMap<>();
    private final Map<ServiceCombFormat.ServiceKey, String> serviceIds = new ConcurrentHashMap<>();
    private final RetryTask finisher;

    private ServiceCombRegistry(ServiceCombConfig config) {
        super(config.description());
        this.config = config;
        this.client = new ServiceCombClient(config);
        this.heartbeats = DaemonThreadFactory.scheduler("roster-servicecomb-heartbeat");
        this.watchScheduler = DaemonThreadFactory.scheduler("roster-servicecomb-watch");
        this.heartbeat = Periodic.atFixedRate(heartbeats, "heartbeats on " + description(), config.heartbeat,
                config.heartbeat, this::beat);
        this.watch = new ServiceCombWatch(client, config, watchScheduler, description());
        this.finisher = new RetryTask("finish deregistrations on " + description(), heartbeats, Backoff.defaults(),
                this::finishDeletions);
    }

    /**
     * Starts a builder.
     *
     * @return a builder for service-center at {@code 127.0.0.1:30100}, project and app {@code default}
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        ServiceCombFormat.validate(instance);
        ServiceCombFormat.ServiceKey key = ServiceCombFormat.key(instance, config.app, config.environment);
        String k = key(instance);
        try {
            String serviceId = serviceId(key);
            Keepalive old = keepalives.get(k);
            if (old != null && !old.serviceId.equals(serviceId)) {
                client.deleteInstance(old.serviceId, instance.id()); // its version, so its microservice, changed
            }
            try {
                write(instance, serviceId);
            } catch (ServiceCombClient.ServiceCenterException e) {
                if (e.code != ServiceCombClient.SERVICE_NOT_EXISTS) {
                    throw e;
                }
                serviceIds.remove(key, serviceId); // the microservice is gone (a server that lost its data)
                serviceId = serviceId(key);
                write(instance, serviceId);
            }
            Keepalive keepalive = new Keepalive(instance, key, serviceId);
            keepalives.put(k, keepalive);
            if (old != null) {
                old.close();
            }
            unfinished.remove(k);
        } catch (IOException | InterruptedException e) {
            throw translate("register " + k, e);
        }
    }

    /** A microservice's id: remembered, or looked up (created when missing) once per registry. */
    private String serviceId(ServiceCombFormat.ServiceKey key) throws IOException, InterruptedException {
        String id = serviceIds.get(key);
        if (id == null) {
            id = client.ensureService(key);
            serviceIds.put(key, id);
        }
        return id;
    }

    /**
     * Writes an instance: service-center answers a registration of an id it knows by renewing the old record
     * unchanged, so an existing record is updated (properties) or replaced (endpoints).
     */
    private void write(ServiceInstance instance, String serviceId) throws IOException, InterruptedException {
        Optional<JsonNode> existing = client.instance(serviceId, instance.id());
        if (existing.isPresent()) {
            List<String> endpoints = new ArrayList<>();
            existing.get().path("endpoints").forEach(e -> endpoints.add(e.asText()));
            List<String> wanted = new ArrayList<>();
            instance.endpoints().forEach(e -> wanted.add(e.toString()));
            if (endpoints.equals(wanted)) {
                client.putProperties(serviceId, instance.id(),
                        ServiceCombFormat.propertiesBody(instance, config.app, config.environment));
                return;
            }
            client.deleteInstance(serviceId, instance.id());
        }
        client.registerInstance(serviceId, body(instance, serviceId));
    }

    private String body(ServiceInstance instance, String serviceId) {
        return ServiceCombFormat.instance(instance, serviceId, config.app, config.environment,
                config.heartbeat.toSeconds(), config.times);
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        String k = key(instance);
        Keepalive keepalive = keepalives.remove(k);
        if (keepalive != null) {
            keepalive.close();
        }
        if (!owned || keepalive == null) {
            return; // another process's record (or ours from an earlier registry): not ours to delete
        }
        try {
            client.deleteInstance(keepalive.serviceId, instance.id());
            unfinished.remove(k);
        } catch (IOException | InterruptedException e) {
            if (!(e instanceof ServiceCombClient.ServiceCenterException)) {
                // Unanswered: delete it when service-center is back, so that it never lingers until its TTL.
                unfinished.put(k, new Deletion(keepalive.serviceId, instance.id()));
                finisher.trigger();
            }
            throw translate("deregister " + k, e);
        }
    }

    /** Deregisters everything at once, so that closing against an unreachable server costs one timeout. */
    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        Map<ServiceInstance, String> serviceIds = new LinkedHashMap<>();
        for (ServiceInstance instance : instances) {
            Keepalive keepalive = keepalives.remove(key(instance));
            if (keepalive != null) {
                keepalive.close();
                serviceIds.put(instance, keepalive.serviceId);
            }
        }
        deregisterConcurrently(serviceIds.keySet(), 4, config.timeout.multipliedBy(2),
                instance -> client.deleteInstance(serviceIds.get(instance), instance.id()));
        finishDeletionsOnce();
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        if (!ServiceCombFormat.FIND_NAME.matcher(name).matches()) {
            return List.of(); // service-center cannot hold such a name, so nobody registered it
        }
        try {
            ServiceCombClient.Found found = client.find(name, null, "");
            return found.answer == null ? List.of()
                    : ServiceCombFormat.instances(found.answer, name, description() + " service '" + name + "'");
        } catch (IOException | InterruptedException e) {
            throw translate("read service '" + name + "'", e);
        }
    }

    @Override
    protected Collection<String> doServices() {
        try {
            Map<String, List<String>> idsByName = new LinkedHashMap<>();
            JsonNode services = client.services().path("services");
            for (JsonNode service : services) {
                if (ServiceCombFormat.text(service, "appId").equals(config.app)
                        && ServiceCombFormat.text(service, "environment").equals(config.environment)) {
                    idsByName.computeIfAbsent(ServiceCombFormat.text(service, "serviceName"), n -> new ArrayList<>())
                            .add(ServiceCombFormat.text(service, "serviceId"));
                }
            }
            TreeSet<String> names = new TreeSet<>();
            for (Map.Entry<String, List<String>> e : idsByName.entrySet()) {
                for (String serviceId : e.getValue()) {
                    if (!serviceId.isEmpty() && !ServiceCombFormat.instances(client.instances(serviceId), e.getKey(),
                            description() + " microservice " + serviceId).isEmpty()) {
                        names.add(e.getKey());
                        break;
                    }
                }
            }
            return names;
        } catch (IOException | InterruptedException e) {
            throw translate("list services", e);
        }
    }

    /** Every microservice of the project, {@code {"services": [...]}}, as stored; for {@link ServiceCombInspector}. */
    JsonNode rawMicroservices() {
        try {
            return client.services();
        } catch (IOException | InterruptedException e) {
            throw translate("inspect: list microservices", e);
        }
    }

    /** Every instance of a microservice, live or not, {@code {"instances": [...]}}; for inspection. */
    JsonNode rawInstances(String serviceId) {
        try {
            return client.instances(serviceId);
        } catch (IOException | InterruptedException e) {
            throw translate("inspect: list the instances of microservice " + serviceId, e);
        }
    }

    /** The app and environment this registry reads. */
    ServiceCombConfig config() {
        return config;
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        return watch.subscribe(name, sink);
    }

    @Override
    protected Duration closeTimeout() {
        return config.timeout.multipliedBy(4);
    }

    @Override
    protected void shutdown() {
        heartbeat.cancel(false);
        keepalives.values().forEach(Keepalive::close);
        keepalives.clear();
        finisher.close();
        watch.close();
        heartbeats.shutdownNow();
        watchScheduler.shutdownNow();
        client.close();
        try {
            heartbeats.awaitTermination(config.timeout.toMillis(), TimeUnit.MILLISECONDS);
            watchScheduler.awaitTermination(config.timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops as a crashed process would, for tests: no deregistration, no more heartbeats. */
    void kill() {
        abandon();
    }

    /** Whether the watch websocket is open, for tests. */
    boolean watchConnected() {
        return watch.connected();
    }

    /**
     * Sends every instance's heartbeat, asynchronously, at most {@link #HEARTBEAT_LANES} at a time (each lane sends
     * the next when the last is answered), so that many instances do not open as many connections at once; runs
     * every interval.
     */
    private void beat() {
        Queue<Keepalive> due = new ConcurrentLinkedQueue<>(keepalives.values());
        for (int i = 0; i < HEARTBEAT_LANES && !due.isEmpty(); i++) {
            lane(due);
        }
    }

    private void lane(Queue<Keepalive> due) {
        Keepalive next = due.poll();
        if (next != null && !isClosed()) {
            // On the heartbeat thread, not the HTTP client's: a beat may block fetching a new token.
            next.beat().whenCompleteAsync((r, e) -> lane(due), this::onHeartbeatThread);
        }
    }

    private void finishDeletions() throws IOException, InterruptedException {
        for (Map.Entry<String, Deletion> e : unfinished.entrySet()) {
            client.deleteInstance(e.getValue().serviceId, e.getValue().instanceId);
            unfinished.remove(e.getKey(), e.getValue());
            LOG.info("{}: deregistration of {} finished", description(), e.getKey());
        }
    }

    private void finishDeletionsOnce() {
        if (unfinished.isEmpty()) {
            return;
        }
        try {
            finishDeletions();
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.warn("{}: {} deregistration(s) could not be finished; those instances expire after their TTL ({} s)",
                    description(), unfinished.size(), config.ttl().toSeconds());
        }
    }

    private RegistryException translate(String action, Throwable e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        if (e instanceof ServiceCombClient.ServiceCenterException) {
            ServiceCombClient.ServiceCenterException sc = (ServiceCombClient.ServiceCenterException) e;
            if (sc.denied()) {
                return new RegistryAccessDeniedException(description() + " refused to " + action + " ("
                        + sc.getMessage() + "): check the user and password, or the token", e);
            }
            if (sc.code == ServiceCombClient.INVALID_PARAMS) {
                return new InvalidInstanceException("instance", "was rejected by " + description(),
                        "(" + sc.getMessage() + ")");
            }
        }
        return failure(action, e);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    private void onHeartbeatThread(Runnable task) {
        try {
            heartbeats.execute(task);
        } catch (RejectedExecutionException e) {
            // closing: no more beats
        }
    }

    /** An instance whose deletion went unanswered. */
    private static final class Deletion {
        final String serviceId;
        final String instanceId;

        Deletion(String serviceId, String instanceId) {
            this.serviceId = serviceId;
            this.instanceId = instanceId;
        }
    }

    /** Keeps one registered instance alive: its microservice, its heartbeat and its re-registration. */
    private final class Keepalive {
        final ServiceInstance instance;
        final ServiceCombFormat.ServiceKey key;
        final RetryTask reregistration;
        volatile String serviceId;
        private boolean warned;

        Keepalive(ServiceInstance instance, ServiceCombFormat.ServiceKey key, String serviceId) {
            this.instance = instance;
            this.key = key;
            this.serviceId = serviceId;
            this.reregistration = new RetryTask("re-register " + key(instance) + " on " + description(), heartbeats,
                    Backoff.defaults(), this::reregister);
        }

        CompletableFuture<?> beat() {
            if (reregistration.isBusy()) {
                return CompletableFuture.completedFuture(null); // service-center lost it; re-registering
            }
            return client.heartbeat(serviceId, instance.id()).whenComplete((reply, error) -> {
                if (isClosed() || keepalives.get(key(instance)) != this) {
                    return;
                }
                if (error != null) {
                    log("heartbeat of " + key(instance) + " failed, trying again in " + config.heartbeat.toMillis()
                            + " ms: " + Failures.describe(error));
                    return;
                }
                if (reply.ok()) {
                    warned = false;
                    return;
                }
                ServiceCombClient.ServiceCenterException failure = client.failure(reply, "heartbeat");
                if (failure.code == ServiceCombClient.INSTANCE_NOT_EXISTS
                        || failure.code == ServiceCombClient.SERVICE_NOT_EXISTS) {
                    LOG.warn("{}: service-center no longer knows {} ({}), registering it again", description(),
                            key(instance), failure.getMessage());
                    reregistration.trigger();
                } else {
                    log("heartbeat of " + key(instance) + " refused: " + failure.getMessage());
                }
            });
        }

        private void log(String message) {
            if (!warned) {
                warned = true;
                LOG.warn("{}: {}", description(), message);
            } else {
                LOG.debug("{}: {}", description(), message);
            }
        }

        /** Registers the microservice (if gone) and the instance again, unless deregistered or replaced. */
        void reregister() throws IOException, InterruptedException {
            registrationLock().lock();
            try {
                if (isClosed() || keepalives.get(key(instance)) != this || !isRegistered(instance)) {
                    return;
                }
                serviceIds.remove(key, serviceId); // it may be gone too: look it up again
                String id = serviceId(key);
                client.registerInstance(id, body(instance, id));
                serviceId = id;
                warned = false;
                LOG.info("{}: registered {} again", description(), key(instance));
            } finally {
                registrationLock().unlock();
            }
        }

        void close() {
            reregistration.close();
        }
    }

    /**
     * Builds a {@link ServiceCombRegistry}. Every setting has a URI option of the same meaning, named in
     * parentheses; a bad value fails {@link #build()} with an {@link InvalidOptionException} naming that option.
     */
    public static final class Builder {
        private List<String> addresses = List.of("127.0.0.1:30100");
        private String project = "default";
        private String domain = "default";
        private String app = "default";
        private String environment = "";
        private String consumer = "roster-consumer";
        private Duration heartbeat = Duration.ofSeconds(30);
        private int times = 3;
        private Duration timeout = Duration.ofSeconds(5);
        private Duration refresh = Duration.ofSeconds(15);
        private String user;
        private String password;
        private String token;
        private Boolean tls;
        private Path caFile;
        private SSLContext sslContext;

        private Builder() {
        }

        /**
         * Sets the service-center address (the host part of the URI).
         *
         * @param address {@code host:port} or {@code http(s)://host:port}; the port defaults to 30100
         * @return this builder
         */
        public Builder address(String address) {
            return addresses(List.of(Options.required(address, "address")));
        }

        /**
         * Sets several service-center addresses of one cluster, tried in turn when one cannot be reached.
         *
         * @param addresses {@code host:port} or {@code http(s)://host:port} each
         * @return this builder
         */
        public Builder addresses(List<String> addresses) {
            this.addresses = List.copyOf(Options.required(addresses, "addresses"));
            return this;
        }

        /**
         * Sets the project ({@code project}), the {@code {project}} of every path.
         *
         * @param project default {@code default}
         * @return this builder
         */
        public Builder project(String project) {
            this.project = Options.required(project, "project");
            return this;
        }

        /**
         * Sets the tenant domain ({@code domain}), sent as {@code X-Domain-Name}.
         *
         * @param domain default {@code default}
         * @return this builder
         */
        public Builder domain(String domain) {
            this.domain = Options.required(domain, "domain");
            return this;
        }

        /**
         * Sets the application ({@code app}): the microservices' {@code appId}, where services are registered and
         * found; Kratos reads it from {@code CAS_APPLICATION_NAME}.
         *
         * @param app default {@code default}
         * @return this builder
         */
        public Builder app(String app) {
            this.app = Options.required(app, "app");
            return this;
        }

        /**
         * Sets the environment ({@code environment}); Kratos reads it from {@code CAS_ENVIRONMENT_ID}.
         *
         * @param environment empty (the default), {@code development}, {@code testing}, {@code acceptance} or
         *     {@code production}
         * @return this builder
         */
        public Builder environment(String environment) {
            this.environment = Options.required(environment, "environment");
            return this;
        }

        /**
         * Sets the name of the consumer microservice that watches ({@code consumer}); see {@link ServiceCombWatch}.
         *
         * @param consumer default {@code roster-consumer}
         * @return this builder
         */
        public Builder consumer(String consumer) {
            this.consumer = Options.required(consumer, "consumer");
            return this;
        }

        /**
         * Sets the heartbeat interval ({@code heartbeat}), also registered as the health check's interval.
         *
         * @param heartbeat whole seconds, default 30 s; service-center raises it to its minimum (5 s by default)
         * @return this builder
         */
        public Builder heartbeat(Duration heartbeat) {
            this.heartbeat = Options.required(heartbeat, "heartbeat");
            return this;
        }

        /**
         * Sets how many heartbeats may be missed ({@code times}): the instance expires after
         * heartbeat × (times + 1).
         *
         * @param times default 3; service-center raises it to its minimum (3 by default)
         * @return this builder
         */
        public Builder times(int times) {
            this.times = times;
            return this;
        }

        /**
         * Sets the request timeout ({@code timeout}).
         *
         * @param timeout default 5 s
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Options.required(timeout, "timeout");
            return this;
        }

        /**
         * Sets how often watched services are read again in case an event was missed ({@code refresh}); a read
         * whose revision did not change costs a {@code 304}.
         *
         * @param refresh default 15 s
         * @return this builder
         */
        public Builder refresh(Duration refresh) {
            this.refresh = Options.required(refresh, "refresh");
            return this;
        }

        /**
         * Logs in to service-center's RBAC (the URI's user info): a token is fetched with {@code POST /v4/token}.
         *
         * @param user the account name
         * @param password its password; never logged
         * @return this builder
         */
        public Builder credentials(String user, String password) {
            this.user = Options.required(user, "user");
            this.password = Options.required(password, "password");
            return this;
        }

        /**
         * Uses a token issued beforehand ({@code token}), sent as {@code Authorization: Bearer}.
         *
         * @param token the token; never logged
         * @return this builder
         */
        public Builder token(String token) {
            this.token = Options.required(token, "token");
            return this;
        }

        /**
         * Talks HTTPS and WSS ({@code tls}); implied by a CA file or an SSL context.
         *
         * @param tls whether to use TLS
         * @return this builder
         */
        public Builder tls(boolean tls) {
            this.tls = tls;
            return this;
        }

        /**
         * Trusts the CA certificates of a PEM file ({@code caFile}) instead of the JDK's defaults.
         *
         * @param caFile a PEM file of one or more certificates
         * @return this builder
         */
        public Builder caFile(Path caFile) {
            this.caFile = Options.required(caFile, "caFile");
            return this;
        }

        /**
         * Uses a ready-made TLS context (client certificates, for instance) instead of {@link #caFile}.
         *
         * @param sslContext the context
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = Options.required(sslContext, "sslContext");
            return this;
        }

        /**
         * Validates the settings and opens the registry. Nothing is sent until the first call.
         *
         * @return the registry
         * @throws InvalidOptionException naming the first bad setting
         */
        public ServiceCombRegistry build() {
            return new ServiceCombRegistry(config());
        }

        ServiceCombConfig config() {
            if (addresses.isEmpty()) {
                throw bad("address", "needs at least one address");
            }
            if (project.isBlank() || !ServiceCombFormat.INSTANCE_ID.matcher(project).matches()) {
                throw bad("project", "must be letters, digits, '_', '.' and '-', was '" + project + "'");
            }
            if (domain.isBlank() || !ServiceCombFormat.INSTANCE_ID.matcher(domain).matches()) {
                throw bad("domain", "must be letters, digits, '_', '.' and '-', was '" + domain + "'");
            }
            if (app.isEmpty() || app.length() > ServiceCombFormat.MAX_APP
                    || !ServiceCombFormat.NAME.matcher(app).matches()) {
                throw bad("app", "must be 1-" + ServiceCombFormat.MAX_APP + " letters, digits, '_', '-' and '.', "
                        + "starting and ending with a letter or digit (service-center's rule), was '" + app + "'");
            }
            if (!ServiceCombFormat.ENVIRONMENTS.contains(environment)) {
                throw bad("environment", "must be empty, development, testing, acceptance or production "
                        + "(service-center's rule), was '" + environment + "'");
            }
            if (consumer.isEmpty() || consumer.length() > ServiceCombFormat.MAX_NAME
                    || !ServiceCombFormat.NAME.matcher(consumer).matches()) {
                throw bad("consumer", "must be a valid service-center service name, was '" + consumer + "'");
            }
            if (heartbeat.toMillis() < 1000 || heartbeat.toMillis() % 1000 != 0) {
                throw bad("heartbeat", "must be whole seconds, at least 1s (service-center counts seconds), was "
                        + heartbeat.toMillis() + "ms");
            }
            if (times < 1) {
                throw bad("times", "must be at least 1, was " + times);
            }
            if (timeout.toMillis() < 1) {
                throw bad("timeout", "must be at least 1ms, was " + timeout);
            }
            if (refresh.toMillis() < 100) {
                throw bad("refresh", "must be at least 100ms, was " + refresh.toMillis() + "ms");
            }
            if (token != null && token.isBlank()) {
                throw bad("token", "must not be blank");
            }
            if (token != null && user != null) {
                throw bad("token", "cannot be combined with a user and password");
            }
            if (user != null && user.isBlank()) {
                throw bad("user", "must not be blank");
            }
            boolean tlsFiles = caFile != null || sslContext != null;
            if (Boolean.FALSE.equals(tls) && tlsFiles) {
                throw bad("tls", "is false but a CA file or an SSL context is given");
            }
            if (caFile != null && sslContext != null) {
                throw bad("caFile", "cannot be combined with a ready-made SSL context");
            }
            boolean secure = Boolean.TRUE.equals(tls) || tlsFiles;
            List<URI> uris = new ArrayList<>();
            for (String address : addresses) {
                uris.add(Http.baseUri("servicecomb", address, secure, 30100, 30100));
            }
            secure |= uris.stream().anyMatch(u -> u.getScheme().equals("https"));
            SSLContext context = sslContext;
            if (secure && caFile != null) {
                context = trusting(caFile);
            }
            return new ServiceCombConfig(uris, project, domain, app, environment, consumer, heartbeat, times, timeout,
                    refresh, user, password, token, context);
        }

        private static SSLContext trusting(Path caFile) {
            try (InputStream in = Files.newInputStream(caFile)) {
                KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
                store.load(null, null);
                int n = 0;
                for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                    store.setCertificateEntry("ca-" + n++, certificate);
                }
                if (n == 0) {
                    throw bad("caFile", "holds no certificate: " + caFile);
                }
                TrustManagerFactory trust = TrustManagerFactory.getInstance(
                        TrustManagerFactory.getDefaultAlgorithm());
                trust.init(store);
                SSLContext context = SSLContext.getInstance("TLS");
                context.init(null, trust.getTrustManagers(), null);
                return context;
            } catch (IOException | GeneralSecurityException e) {
                throw bad("caFile", "cannot be read as PEM certificates: " + caFile + " (" + e.getMessage() + ")");
            }
        }

        private static InvalidOptionException bad(String option, String rule) {
            return new InvalidOptionException(option, "servicecomb option '" + option + "' " + rule);
        }

        @Override
        public String toString() {
            return "ServiceCombRegistry.Builder{addresses=" + addresses + ", app=" + app
                    + (user == null ? "" : ", user=" + user + ", password=***") + (token == null ? "" : ", token=***")
                    + "}";
        }
    }
}
