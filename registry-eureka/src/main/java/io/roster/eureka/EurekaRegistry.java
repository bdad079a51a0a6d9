package io.roster.eureka;

import io.roster.InvalidOptionException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLContext;
import java.io.UncheckedIOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A registry on Netflix Eureka (a Spring Cloud Eureka server, or Netflix's {@code eureka/v2}), through Eureka's
 * REST API: the layout of Go Kratos's Eureka registry, so that Java and Go services see each other.
 *
 * <ul>
 *   <li>Each endpoint of an instance is one Eureka instance of application {@code <NAME>} (upper case), with the
 *       Kratos metadata keys {@code ID}, {@code Name}, {@code Version}, {@code Endpoints}; discovery regroups them
 *       by {@code ID} into one instance with all its endpoints. Instances of Spring Cloud or Netflix clients are
 *       discovered too, as {@code http://<ipAddr>:<port>}. Only {@code UP} instances, unless told otherwise.</li>
 *   <li>Keepalive: every endpoint's lease is renewed each renewal interval; when the server answers 404 (it
 *       restarted, or evicted the instance) the instance is registered again at once, and when no server answers
 *       it is registered again with backoff, without giving up, until deregistered.</li>
 *   <li>Watch: Eureka has no push, so watched services are polled every refresh interval and watchers wake only on
 *       a real change; while no server answers, watchers keep the last list.</li>
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
    private final Map<String, Lease> leases = new ConcurrentHashMap<>(); // written under registrationLock()
    private final Set<String> reportedBadRecords = Collections.newSetFromMap(new ConcurrentHashMap<>());

    private EurekaRegistry(EurekaOptions options) {
        super("eureka at " + options.servers);
        this.options = options;
        this.client = new EurekaClient(options);
        this.renewals = DaemonThreadFactory.scheduler("roster-eureka-renew");
        this.refreshes = DaemonThreadFactory.scheduler("roster-eureka-refresh");
    }

    /**
     * Starts a builder.
     *
     * @return a builder with the defaults: renewal every 10 s, 30 s lease, 5 s watch refresh, 3 s timeout, UP
     *     instances only; server URLs are required
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        EurekaInstances.validate(instance);
        List<EurekaInstances.Record> records = EurekaInstances.records(instance,
                EurekaOptions.seconds(options.renew), EurekaOptions.seconds(options.lease));
        List<EurekaInstances.Record> done = new ArrayList<>();
        try {
            for (EurekaInstances.Record record : records) {
                client.register(record);
                done.add(record);
            }
        } catch (RegistryException e) {
            // A half-registered new instance is withdrawn; an update leaves the old lease running.
            cancelQuietly(previous == null ? done : List.of());
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
        Lease lease = leases.remove(key(instance));
        if (lease != null) {
            lease.stop();
            for (EurekaInstances.Record record : lease.records) { // what was registered, whatever the caller holds
                client.cancel(record.app(), record.instanceId());
            }
            return;
        }
        String app = EurekaInstances.app(instance.name());
        for (URI endpoint : instance.endpoints()) {
            client.cancel(app, EurekaInstances.instanceId(app, endpoint));
        }
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        return read(name); // the client's exceptions name the call and the servers tried
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        return new EurekaWatch(name, this::read, sink, refreshes, options.refresh);
    }

    @Override
    protected void shutdown() {
        leases.values().forEach(Lease::stop);
        leases.clear();
        renewals.shutdownNow();
        refreshes.shutdownNow();
        try {
            // A renewal or poll in flight ends within the request timeout; wait for it, so that no thread outlives
            // close() and nothing is sent afterwards.
            long wait = options.timeout.toMillis() * Math.max(2, options.servers.size()) + 1000;
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

    private List<ServiceInstance> read(String name) {
        Optional<byte[]> body = client.application(EurekaInstances.app(name));
        try {
            return body.map(b -> EurekaInstances.read(name, b, options.upOnly, this::reportBadRecord))
                    .orElse(List.of());
        } catch (UncheckedIOException e) {
            // Not Eureka answering (a proxy's error page, say): as good as no answer.
            throw new RegistryUnavailableException("read " + name + " failed: " + description()
                    + " answered with something that is not JSON", e);
        }
    }

    private void reportBadRecord(String instanceId, String why) {
        // Polling reads the same bad record again and again: say it once (bounded, in case records churn).
        if (reportedBadRecords.size() < 1000 && reportedBadRecords.add(instanceId)) {
            LOG.warn("{}: skipping eureka instance {}: {}", description(), instanceId, why);
        }
    }

    private void cancelQuietly(List<EurekaInstances.Record> records) {
        for (EurekaInstances.Record record : records) {
            try {
                client.cancel(record.app(), record.instanceId());
            } catch (RegistryException e) {
                LOG.debug("{}: removing {} failed, it will expire: {}", description(), record.instanceId(),
                        e.toString());
            }
        }
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    /**
     * Keeps one registered instance alive: renews each of its Eureka instances every renewal interval, and
     * registers them all again when the server lost them (404) or did not answer. Renewals and re-registrations
     * run on the registry's renewal thread.
     */
    private final class Lease {
        final ServiceInstance instance;
        final List<EurekaInstances.Record> records;
        private final RetryTask reRegister;
        private volatile ScheduledFuture<?> renewal;

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
            long period = options.renew.toNanos();
            renewal = renewals.scheduleAtFixedRate(this::renew, period, period, TimeUnit.NANOSECONDS);
        }

        void stop() {
            ScheduledFuture<?> r = renewal;
            if (r != null) {
                r.cancel(false);
            }
            reRegister.close();
        }

        private void renew() {
            if (reRegister.isBusy()) {
                return; // a re-registration is under way; it renews everything by itself
            }
            try {
                for (EurekaInstances.Record record : records) {
                    if (!client.renew(record.app(), record.instanceId())) {
                        if (leases.get(key(instance)) != this) {
                            return; // deregistered while this renewal was in flight
                        }
                        LOG.info("{}: eureka no longer knows {} (server restarted or evicted it), registering "
                                + "again", description(), record.instanceId());
                        reRegister.trigger();
                        return;
                    }
                }
            } catch (RuntimeException e) {
                if (isClosed()) {
                    return; // interrupted by close()
                }
                LOG.warn("{}: renewing {} failed, registering again until a server takes it: {}", description(),
                        key(instance), e.getMessage());
                reRegister.trigger();
            }
        }

        private void registerAgain() {
            registrationLock().lock();
            try {
                // Re-checked under the lock: a deregister or update in between must never be undone.
                if (isClosed() || !isRegistered(instance) || leases.get(key(instance)) != this) {
                    return;
                }
                for (EurekaInstances.Record record : records) {
                    client.register(record);
                }
            } finally {
                registrationLock().unlock();
            }
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
            servers.clear();
            urls.forEach(u -> servers.add(Objects.requireNonNull(u, "server URL")));
            return this;
        }

        /**
         * Adds one Eureka server after those already given.
         *
         * @param url such as {@code http://10.0.0.1:8761/eureka}
         * @return this builder
         */
        public Builder serverUrl(URI url) {
            servers.add(Objects.requireNonNull(url, "url"));
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
            this.user = Objects.requireNonNull(user, "user");
            this.password = Objects.requireNonNull(password, "password");
            return this;
        }

        /**
         * Sets how often each lease is renewed.
         *
         * @param interval positive, shorter than the lease; 10 s by default (Kratos's heartbeat)
         * @return this builder
         */
        public Builder renewalInterval(Duration interval) {
            this.renew = interval;
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
            this.lease = duration;
            return this;
        }

        /**
         * Sets how often watched services are read again.
         *
         * @param interval positive; 5 s by default
         * @return this builder
         */
        public Builder refreshInterval(Duration interval) {
            this.refresh = interval;
            return this;
        }

        /**
         * Sets the timeout of each HTTP request (and of connecting).
         *
         * @param timeout positive; 3 s by default
         * @return this builder
         */
        public Builder timeout(Duration timeout) {
            this.timeout = timeout;
            return this;
        }

        /**
         * Sets the TLS context for {@code https} server URLs.
         *
         * @param sslContext the context; the JVM's default when not set
         * @return this builder
         */
        public Builder sslContext(SSLContext sslContext) {
            this.sslContext = Objects.requireNonNull(sslContext, "sslContext");
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
                    sslContext, upOnly));
        }
    }
}
