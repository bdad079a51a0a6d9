package io.roster.memory;

import io.roster.InvalidOptionException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Durations;
import io.roster.spi.Periodic;
import io.roster.spi.WatchHub;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ScheduledFuture;

/**
 * The embedded registry, {@code mem://<name>}: no server, everything in this JVM. Registries opened with the same
 * name share one store, so a demo, or a user's unit test, can register through one and discover through
 * another. Watch updates are immediate.
 *
 * <p>Instances are kept alive like on a real backend: each registry holds a lease (default TTL 10 s, renewed every
 * third of it) and its instances disappear when the lease runs out. A lease that expired while the registry is
 * open (its renewals stalled past the TTL on a loaded machine) is granted again and the instances put back, as the
 * etcd backend does. {@link #kill()} stops a registry as if its process had died, without deregistering, to test
 * what consumers see then.
 *
 * <pre>{@code
 * try (Registry registry = MemoryRegistry.builder().name("test").build()) { ... }
 * // or Registries.open("mem://test?ttl=2s")
 * }</pre>
 */
public final class MemoryRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(MemoryRegistry.class);

    private final MemoryStore store;
    private final long ttlNanos;
    private volatile long lease; // replaced under registrationLock() when it expired
    private final ScheduledFuture<?> renewal;
    private volatile boolean released;

    private MemoryRegistry(String name, Duration ttl) {
        super("mem://" + name);
        this.store = MemoryStore.acquire(name);
        this.ttlNanos = ttl.toNanos();
        this.lease = store.grant(ttlNanos);
        Duration period = Duration.ofNanos(Math.max(1, ttlNanos / 3));
        this.renewal = Periodic.atFixedRate(store.scheduler(), "renew the lease of " + description(), period, period,
                () -> {
                    keepLease();
                    store.expire();
                });
    }

    /**
     * Starts a builder.
     *
     * @return a builder for store {@code default} with a 10 s TTL
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        keepLease(); // never put an instance on a lease that already expired: it would be invisible
        store.put(instance, lease);
    }

    /**
     * Renews the lease; if it expired (the renewal thread stalled past the TTL, as on a loaded machine), grants a
     * new one and puts every registration on it again, as the etcd backend does.
     */
    private void keepLease() {
        registrationLock().lock();
        try {
            if (isClosed() || store.renew(lease, ttlNanos)) {
                return;
            }
            lease = store.grant(ttlNanos);
            List<ServiceInstance> mine = registrations();
            mine.forEach(instance -> store.put(instance, lease));
            if (!mine.isEmpty()) {
                LOG.warn("{}: the lease expired (renewals stalled past the TTL of {}); registered {} instance(s) "
                        + "again", description(), Durations.format(Duration.ofNanos(ttlNanos)), mine.size());
            }
        } finally {
            registrationLock().unlock();
        }
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        if (owned) { // someone else's instance is theirs to remove
            store.remove(instance.name(), instance.id());
        }
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        return store.get(name);
    }

    @Override
    protected Collection<String> doServices() {
        return store.services();
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        Runnable cancel = store.subscribe(name, sink);
        return cancel::run;
    }

    @Override
    protected void shutdown() {
        release();
    }

    /**
     * Stops this registry as a crashed process would: no deregistration, no more lease renewals. Its instances
     * stay visible to other registries on the store until the TTL runs out. Watchers and further calls behave as
     * after {@link #close()}.
     */
    public void kill() {
        abandon();
    }

    /** The store, for tests in this package. */
    MemoryStore store() {
        return store;
    }

    /** The current lease, for tests in this package. */
    long lease() {
        return lease;
    }

    private synchronized void release() {
        if (!released) {
            released = true;
            renewal.cancel(false);
            store.release();
        }
    }

    /** Builds a {@link MemoryRegistry}. */
    public static final class Builder {
        private String name = "default";
        private Duration ttl = Duration.ofSeconds(10);

        private Builder() {
        }

        /**
         * Chooses the store: registries of one name share their instances.
         *
         * @param name the store name
         * @return this builder
         * @throws InvalidOptionException when the name is null or blank
         */
        public Builder name(String name) {
            if (name == null || name.isBlank()) {
                throw new InvalidOptionException("name", "mem store name must not be null or blank");
            }
            this.name = name;
            return this;
        }

        /**
         * Sets how long instances outlive a registry that stopped renewing.
         *
         * @param ttl a positive duration
         * @return this builder
         * @throws InvalidOptionException when the TTL is null, zero or negative
         */
        public Builder ttl(Duration ttl) {
            if (ttl == null) {
                throw new InvalidOptionException("ttl", "mem option 'ttl' must not be null");
            }
            if (ttl.isZero() || ttl.isNegative()) {
                throw new InvalidOptionException("ttl", "mem option 'ttl' must be positive, was " + ttl);
            }
            this.ttl = ttl;
            return this;
        }

        /**
         * Opens the registry.
         *
         * @return an open registry
         */
        public MemoryRegistry build() {
            return new MemoryRegistry(name, ttl);
        }
    }
}
