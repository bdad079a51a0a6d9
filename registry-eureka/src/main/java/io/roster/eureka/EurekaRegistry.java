package io.roster.eureka;

import io.roster.InvalidOptionException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Options;
import io.roster.spi.Periodic;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.UncheckedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A registry on Netflix Eureka (a Spring Cloud Eureka server, or Netflix's {@code eureka/v2}), through Eureka's
 * REST API: the layout of Go Kratos's Eureka registry, so that Java and Go services see each other.
 *
 * <ul>
 *   <li>Each endpoint of an instance is one Eureka instance of application {@code <NAME>} (upper case), with the
 *       Kratos metadata keys {@code ID}, {@code Name}, {@code Version}, {@code Endpoints}; discovery regroups them
 *       by {@code ID} into one instance with all its endpoints. {@code hostName} is the endpoint's address, so
 *       that Spring Cloud consumers ({@code DiscoveryClient}, LoadBalancer, OpenFeign) can dial it. Instances of
 *       Spring Cloud or Netflix clients are discovered too, as {@code http://<ipAddr>:<port>}. Only {@code UP}
 *       instances, unless told otherwise.</li>
 *   <li>Keepalive: every endpoint's lease is renewed each renewal interval; when the server answers 404 (it
 *       restarted, or evicted the instance) the instance is registered again at once, and when no server answers
 *       it is registered again with backoff, without giving up, until deregistered.</li>
 *   <li>Watch: Eureka has no push, so the registry polls at a fixed rate, once per refresh interval for all
 *       watched services, reading the registry's recent changes ({@code GET apps/delta}, checked against the
 *       server's hash code) rather than every instance; watchers wake only on a real change; while no server
 *       answers, watchers keep the last list.</li>
 *   <li>Connections: at most {@code maxConnections} (8) to each server URL, shared by everything the registry
 *       sends; {@code close()} closes them all, on Java 17 too.</li>
 *   <li>Close: every instance is deregistered at once, and close waits for that once: at most the request timeout
 *       per server URL, however many instances there are.</li>
 * </ul>
 *
 * <pre>{@code
 * try (Registry registry = EurekaRegistry.builder()
 *         .serverUrls(List.of(URI.create("http://10.0.0.1:8761/eureka"), URI.create("http://10.0.0.2:8761/eureka")))
 *         .renewalInterval(Duration.ofSeconds(10))
 *         .build()) { ... }
 * // or Registries.open("eureka://10.0.0.1:8761/eureka,10.0.0.2:8761/eureka?renew=10s")
 * }</pre>
 *
 * <p>How fast a change shows depends on the server too: with its read-only response cache on (Eureka's default),
 * a server serves reads up to {@code eureka.server.response-cache-update-interval-ms} (30 s) old, and a read that
 * races a register can keep the old list cached up to {@code response-cache-auto-expiration-in-seconds} (180 s);
 * a dead instance goes after its lease, which Eureka counts twice after a renewal (a bug its {@code Lease} class
 * documents and keeps), plus the server's eviction interval (60 s by default).
 */
public final class EurekaRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(EurekaRegistry.class);
    private static final Duration MAX_RETRY_DELAY = Duration.ofSeconds(5);

    private final EurekaOptions options;
    private final EurekaClient client;
    private final ScheduledExecutorService renewals;
    private final ScheduledExecutorService refreshes;
    private final EurekaWatches watches;
    private final Map<String, Lease> leases = new ConcurrentHashMap<>(); // written under registrationLock()
    private final Set<String> reportedBadRecords = Collections.newSetFromMap(new ConcurrentHashMap<>());

    private EurekaRegistry(EurekaOptions options) {
        super("eureka at " + options.servers);
        this.options = options;
        this.client = new EurekaClient(options);
        this.renewals = DaemonThreadFactory.scheduler("roster-eureka-renew");
        this.refreshes = DaemonThreadFactory.scheduler("roster-eureka-refresh");
        this.watches = new EurekaWatches(description(), client, options.upOnly, this::reportBadRecord, refreshes,
                options.refresh);
    }

    /**
     * Starts a builder.
     *
     * @return a builder with the defaults: renewal every 10 s, 30 s lease, 5 s watch refresh, 3 s timeout, at
     *     most 8 connections per server, UP instances only; server URLs are required
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        EurekaInstances.validate(instance);
        List<EurekaInstances.Record> records = EurekaInstances.records(instance,
                EurekaOptions.seconds(options.renew), EurekaOptions.seconds(options.lease));
        try {
            client.forEach(records, client::register, "register " + key(instance));
        } catch (RegistryException e) {
            // A half-registered new instance is withdrawn; an update leaves the old lease running.
            if (previous == null) {
                cancelQuietly(records);
            }
            throw e;
        }
        Lease old = leases.remove(key(instance));
        if (old != null) {
            old.stop();
            // Endpoints the update dropped: their Eureka instances would otherwise linger until evicted.
            Set<String> kept = new LinkedHashSet<>();
            records.forEach(r -> kept.add(r.instanceId()));
            cancelQuietly(old.records.stream().filter(r -> !kept.contains(r.instanceId())).toList());
        }
        Lease lease = new Lease(instance, records);
        leases.put(key(instance), lease);
        lease.start();
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        Lease lease = leases.remove(key(instance)); // there is one exactly when owned
        if (lease == null) {
            // Not registered here: the Eureka instances under its endpoints, if any, are another process's (their
            // ids hold only host, application and port), so nothing is removed.
            return;
        }
        lease.stop();
        // What was registered, whatever the caller holds; all endpoints at once, so that an outage costs one
        // timeout.
        client.forEach(lease.records, this::cancel, "deregister " + key(instance));
    }

    /**
     * Deregisters everything at once and waits for it once, at most one call's time (the request timeout per
     * server URL), however many instances there are: during an outage closing costs one timeout, and what did not
     * reach the server expires after its lease. Instances go {@code maxConnections} at a time, the endpoints of
     * each at once; the pools bound the connections.
     */
    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        Map<String, List<EurekaInstances.Record>> records = new HashMap<>();
        for (ServiceInstance instance : instances) {
            Lease lease = leases.remove(key(instance));
            if (lease != null) {
                lease.stop();
                records.put(key(instance), lease.records);
            }
        }
        deregisterConcurrently(instances.stream().filter(i -> records.containsKey(key(i))).toList(),
                options.maxConnections, client.budget(), instance -> {
                    try {
                        client.forEach(records.get(key(instance)), this::cancel, "deregister " + key(instance));
                    } catch (RegistryException e) {
                        if (Thread.interrupted()) {
                            // Abandoned at the deadline: counted once in the summary, not logged as a failure too.
                            throw new InterruptedException();
                        }
                        throw e;
                    }
                });
    }

    /** Deregistering everything, then stopping the threads (each interrupted, at most one call's time). */
    @Override
    protected Duration closeTimeout() {
        return client.budget().multipliedBy(2).plusSeconds(1);
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        Optional<byte[]> body = client.application(EurekaInstances.app(name));
        try {
            return body.map(b -> EurekaInstances.read(name, b, options.upOnly, this::reportBadRecord))
                    .orElse(List.of());
        } catch (UncheckedIOException e) {
            throw notJson("read " + name, e);
        }
    }

    @Override
    protected Collection<String> doServices() {
        byte[] body = client.applications();
        Set<String> names = new HashSet<>();
        try {
            EurekaInstances.scan(body, instance -> {
                if (!options.upOnly || "UP".equals(instance.status())) {
                    EurekaInstances.serviceName(instance.app(), instance.name()).ifPresent(names::add);
                }
            });
        } catch (UncheckedIOException e) {
            throw notJson("list services", e);
        }
        return names;
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        return watches.subscribe(name, sink);
    }

    @Override
    protected void shutdown() {
        leases.values().forEach(Lease::stop);
        leases.clear();
        // Interrupts a renewal or poll in flight: its HTTP request is cancelled, so no thread outlives close() by
        // more than a moment and nothing is sent afterwards.
        renewals.shutdownNow();
        refreshes.shutdownNow();
        try {
            long wait = client.budget().toMillis() + 1000;
            renewals.awaitTermination(wait, TimeUnit.MILLISECONDS);
            refreshes.awaitTermination(wait, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        client.close();
    }

    /**
     * Stops as a crashed process would: no deregistration, no more renewals; the server evicts the instances
     * once their lease runs out. For tests.
     */
    void kill() {
        abandon();
    }

    private RegistryException notJson(String action, UncheckedIOException e) {
        // Not Eureka answering (a proxy's error page, say): as good as no answer.
        return new RegistryUnavailableException(action + " failed: " + description()
                + " answered with something that is not JSON", e);
    }

    private void reportBadRecord(String instanceId, String why) {
        // Polling reads the same bad record again and again: say it once (bounded, in case records churn).
        if (reportedBadRecords.size() < 1000 && reportedBadRecords.add(instanceId)) {
            LOG.warn("{}: skipping eureka instance {}: {}", description(), instanceId, why);
        }
    }

    private CompletableFuture<Void> cancel(EurekaInstances.Record record) {
        return client.cancel(record.app(), record.instanceId());
    }

    private void cancelQuietly(List<EurekaInstances.Record> records) {
        if (records.isEmpty()) {
            return;
        }
        try {
            client.forEach(records, this::cancel, "remove " + records.size() + " eureka instance(s)");
        } catch (RegistryException e) {
            LOG.debug("{}: removing eureka instances failed, they will expire: {}", description(), e.toString());
        }
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    /**
     * Keeps one registered instance alive: renews each of its Eureka instances every renewal interval, and
     * registers them all again when the server lost them (404) or did not answer. The renewal thread sends the
     * renewals and waits for none of them (the answers are handled as they come), so that many instances, or one
     * hung call, do not make the others late. Re-registrations run on the renewal thread. Neither holds the
     * registration lock: a hung server must not hold up {@code deregister}, {@code register} or {@code close()}.
     */
    private final class Lease {
        final ServiceInstance instance;
        final List<EurekaInstances.Record> records;
        private final RetryTask reRegister;
        private volatile ScheduledFuture<?> renewal;
        private volatile boolean stopped;
        private final AtomicBoolean renewing = new AtomicBoolean();

        Lease(ServiceInstance instance, List<EurekaInstances.Record> records) {
            this.instance = instance;
            this.records = List.copyOf(records);
            Duration cap = options.renew.compareTo(MAX_RETRY_DELAY) < 0 ? options.renew : MAX_RETRY_DELAY;
            // The retry delay never exceeds the renewal interval, so a server that comes back sees the instance
            // again within about one renewal interval.
            this.reRegister = new RetryTask("re-register " + key(instance) + " on " + description(), renewals,
                    new Backoff(Duration.ofMillis(Math.min(100, cap.toMillis())), cap), this::registerAgain);
        }

        void start() {
            renewal = Periodic.atFixedRate(renewals, "renew " + key(instance) + " on " + description(), options.renew,
                    options.renew, this::renew);
        }

        /** Called under the registration lock when the instance is deregistered, updated or closed. */
        void stop() {
            stopped = true;
            ScheduledFuture<?> r = renewal;
            if (r != null) {
                r.cancel(false);
            }
            reRegister.close();
        }

        /** On the renewal scheduler: sends one round of renewals, unless the last one is still out. */
        private void renew() {
            if (stopped || reRegister.isBusy() || !renewing.compareAndSet(false, true)) {
                return; // deregistered; re-registering (which renews everything); or the last round still runs
            }
            List<CompletableFuture<Boolean>> round = new ArrayList<>(records.size());
            try {
                for (EurekaInstances.Record record : records) {
                    round.add(client.renew(record.app(), record.instanceId()));
                }
            } finally {
                CompletableFuture.allOf(round.toArray(CompletableFuture[]::new))
                        .whenComplete((ignored, error) -> renewed(round));
            }
        }

        /** Once every renewal of a round has its answer (on whichever thread completed the last). */
        private void renewed(List<CompletableFuture<Boolean>> round) {
            try {
                if (stopped || isClosed()) {
                    return; // deregistered while the round was out, or aborted by close()
                }
                RuntimeException failure = null;
                String lost = null;
                for (int i = 0; i < round.size(); i++) {
                    try {
                        if (!round.get(i).join()) {
                            lost = records.get(i).instanceId();
                        }
                    } catch (CompletionException | CancellationException e) {
                        failure = e.getCause() instanceof RuntimeException ? (RuntimeException) e.getCause() : e;
                    }
                }
                if (failure != null) {
                    LOG.warn("{}: renewing {} failed, registering again until a server takes it: {}",
                            description(), key(instance), failure.getMessage());
                    reRegister.trigger();
                } else if (lost != null) {
                    LOG.info("{}: eureka no longer knows {} (server restarted or evicted it), registering again",
                            description(), lost);
                    reRegister.trigger();
                }
            } catch (Throwable t) {
                LOG.error("{}: renewing {} failed", description(), key(instance), t); // the next round tries again
            } finally {
                renewing.set(false);
            }
        }

        private void registerAgain() {
            if (stopped) {
                return;
            }
            client.forEach(records, client::register, "re-register " + key(instance));
            if (stopped) {
                undo();
            }
        }

        /**
         * Undoes a re-registration that raced a deregister, update or close (its POSTs may have landed after
         * their DELETEs): removes what is not the registry's anymore, and has a newer lease of the same instance
         * write its own records again, in case these overwrote them.
         */
        private void undo() {
            Lease successor = leases.get(key(instance));
            Set<String> kept = new HashSet<>();
            if (successor != null && successor != this) {
                successor.records.forEach(r -> kept.add(r.instanceId()));
                successor.reRegister.trigger();
            }
            cancelQuietly(records.stream().filter(r -> !kept.contains(r.instanceId())).toList());
        }
    }

    /**
     * Builds an {@link EurekaRegistry}. Only the server URLs are required.
     */
    public static final class Builder {
        private final List<URI> servers = new ArrayList<>();
        private String user;
        private String password;
        private Duration renew = EurekaOptions.DEFAULT_RENEW;
        private Duration lease = EurekaOptions.DEFAULT_LEASE;
        private Duration refresh = EurekaOptions.DEFAULT_REFRESH;
        private Duration timeout = EurekaOptions.DEFAULT_TIMEOUT;
        private int maxConnections = EurekaOptions.DEFAULT_MAX_CONNECTIONS;
        private SSLContext sslContext;
        private boolean upOnly = true;

        private Builder() {
        }

        /**
         * Sets the Eureka servers, tried in order on failure.
         *
         * @param urls base URLs under which the server serves {@code /apps}, such as
         *     {@code http://10.0.0.1:8761/eureka} (Spring Cloud) or {@code http://10.0.0.1:8080/eureka/v2}
         *     (Netflix); {@code https} for TLS
         * @return this builder
         */
        public Builder serverUrls(List<URI> urls) {
            if (urls == null) {
                throw new InvalidOptionException("servers", "eureka server URLs must not be null");
            }
            servers.clear();
            servers.addAll(urls); // each is checked by build()
            return this;
        }

        /**
         * Adds one Eureka server after those already given.
         *
         * @param url such as {@code http://10.0.0.1:8761/eureka}
         * @return this builder
         */
        public Builder serverUrl(URI url) {
            servers.add(Options.required(url, "servers")); // checked by build()
            return this;
        }

        /**
         * Sets HTTP basic authentication credentials, sent with every request (never logged).
         *
         * @param user the user, without ':'
         * @param password the password
         * @return this builder
         */
        public Builder credentials(String user, String password) {
            this.user = nonNull("user", user);
            this.password = nonNull("password", password);
            return this;
        }

        /**
         * Sets how often each lease is renewed.
         *
         * @param interval positive, shorter than the lease; 10 s by default (Kratos's heartbeat)
         * @return this builder
         */
        public Builder renewalInterval(Duration interval) {
            this.renew = Options.required(interval, "renew");
            return this;
        }

        /**
         * Sets the lease duration sent to the server: how long after the last renewal the server may evict an
         * instance whose process died.
         *
         * @param duration whole seconds, longer than the renewal interval; 30 s by default
         * @return this builder
         */
        public Builder leaseDuration(Duration duration) {
            this.lease = Options.required(duration, "lease");
            return this;
        }

        /**
         * Sets how often watched services are read again.
         *
         * @param interval positive; 5 s by default
         * @return this builder
         */
        public Builder refreshInterval(Duration interval) {
            this.refresh = Options.required(interval, "refresh");
            return this;
        }

        /**
         * Sets the timeout of each HTTP request (and of connecting).
         *
         * @param timeout positive; 3 s by default
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = Options.required(timeout, "timeout");
            return this;
        }

        /**
         * Bounds the connections to each server URL, shared by registrations, renewals, reads and
         * deregistrations: at most this many sockets are open to one server at once, idle ones included, and
         * further calls wait their turn within their timeout. All are closed by {@code close()}.
         *
         * @param maxConnections 1 to 1024; 8 by default
         * @return this builder
         */
        public Builder maxConnections(int maxConnections) {
            this.maxConnections = maxConnections;
            return this;
        }

        /**
         * Sets the TLS context for {@code https} server URLs.
         *
         * @param sslContext the context; the JVM's default when not set
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = nonNull("sslContext", sslContext);
            return this;
        }

        /**
         * Chooses whether discovery lists only instances whose Eureka status is {@code UP}.
         *
         * @param upOnly true by default; false lists {@code STARTING}, {@code DOWN}, {@code OUT_OF_SERVICE} ones too
         * @return this builder
         */
        public Builder upOnly(boolean upOnly) {
            this.upOnly = upOnly;
            return this;
        }

        /**
         * Validates the settings and opens the registry. Nothing is sent until the first call.
         *
         * @return the registry
         * @throws InvalidOptionException naming the setting that is missing or bad
         */
        public EurekaRegistry build() {
            return new EurekaRegistry(new EurekaOptions(servers, user, password, renew, lease, refresh, timeout,
                    maxConnections, sslContext, upOnly));
        }

        private static <T> T nonNull(String option, T value) {
            if (value == null) {
                throw new InvalidOptionException(option, "eureka option '" + option + "' must not be null");
            }
            return value;
        }
    }
}
