package io.roster.spi;

import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.RegistryClosedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The part of a {@link Registry} that is the same for every backend, so that a backend writes only its own
 * I/O:
 *
 * <ul>
 *   <li>closed-state checks, service-name validation, and {@link RegistryClosedException} after close;</li>
 *   <li>the book of what this registry registered, so that {@link #close()} deregisters it and a backend can
 *       re-register it after losing its lease or session ({@link #registrations()});</li>
 *   <li>watchers, through a {@link WatchHub} fed by {@link #subscribe};</li>
 *   <li>{@link #getService} falling back to a watched service's last list while the backend is unavailable;</li>
 *   <li>no JDK or client-library exception out of a public method: anything a backend throws that is not a
 *       {@link RegistryException} is wrapped by {@link #failure} (unavailable for I/O-like failures), and null
 *       arguments are refused with an {@link InvalidInstanceException} naming them;</li>
 *   <li>the close sequence: watchers, then deregistration, then {@link #shutdown()}; a second {@code close()}
 *       (a shutdown hook racing the main thread) waits for the first, at most {@link #closeTimeout()};</li>
 *   <li>{@link #deregisterConcurrently}, for backends that deregister many instances on close.</li>
 * </ul>
 *
 * <p>Registrations are serialised by {@link #registrationLock()}: a backend that re-registers in the background
 * takes the same lock and re-reads {@link #registrations()}, so a concurrent {@code deregister} is never undone.
 */
public abstract class AbstractRegistry implements Registry {
    private static final Logger LOG = LoggerFactory.getLogger(AbstractRegistry.class);

    private final String description;
    private final ReentrantLock registrationLock = new ReentrantLock();
    private final Map<String, ServiceInstance> registered = new LinkedHashMap<>(); // guarded by registrationLock
    private final WatchHub hub = new WatchHub(this::subscribe);
    private final AtomicReference<Thread> closer = new AtomicReference<>();
    private final CountDownLatch closeDone = new CountDownLatch(1);
    private volatile boolean closed;

    /**
     * Creates the registry.
     *
     * @param description names the backend and address in messages, such as {@code etcd at 10.0.0.1:2379};
     *     never contains secrets
     */
    protected AbstractRegistry(String description) {
        this.description = description;
    }

    /**
     * Writes an instance to the backend and starts keeping it alive. Called under {@link #registrationLock()}.
     *
     * @param instance the instance
     * @param previous the instance registered before under the same name and id, or {@code null}
     */
    protected abstract void doRegister(ServiceInstance instance, ServiceInstance previous);

    /**
     * Removes an instance from the backend and stops keeping it alive. Called under
     * {@link #registrationLock()}; must not fail when the instance is not there. When {@code owned} is false the
     * instance is not this registry's: the record in the backend, if any, belongs to another process (or to an
     * earlier registry of this one) and must be left alone; only local state may be cleaned up.
     *
     * @param instance the instance
     * @param owned whether this registry registered it (false: someone else's instance, or already gone)
     */
    protected abstract void doDeregister(ServiceInstance instance, boolean owned);

    /**
     * Reads a service's live instances from the backend.
     *
     * @param name a valid service name
     * @return the instances, in any order
     * @throws RegistryUnavailableException when the backend cannot be reached
     */
    protected abstract List<ServiceInstance> doGetService(String name);

    /**
     * Lists the names of the services that have at least one instance in the backend now.
     *
     * @return the names, in any order, possibly with duplicates
     * @throws RegistryUnavailableException when the backend cannot be reached
     */
    protected abstract Collection<String> doServices();

    /**
     * Starts following a service for watchers; see {@link WatchHub.Source}.
     *
     * @param name a service name that passed {@link ServiceInstance#requireReadableName}
     * @param sink receives each full list, or keyed records and their changes
     * @return closes the subscription
     */
    protected abstract WatchHub.Subscription subscribe(String name, WatchHub.Sink sink);

    /**
     * Releases the backend's clients, threads and sessions. Called once, last in {@link #close()}, after
     * watchers are closed and instances deregistered.
     */
    protected abstract void shutdown();

    /**
     * Deregisters everything on close. The default calls {@link #doDeregister} for each instance in turn; a backend
     * that can do it in one call (revoking an etcd lease, closing a ZooKeeper session) overrides this, and one whose
     * deregistrations are independent requests overrides it with {@link #deregisterConcurrently}, so that closing
     * against an unreachable backend costs one timeout, not one per instance. Called under
     * {@link #registrationLock()}.
     *
     * @param instances what this registry registered
     */
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        for (ServiceInstance instance : instances) {
            try {
                doDeregister(instance, true);
            } catch (Exception e) {
                LOG.warn("{}: deregistering {} on close failed, it will expire by itself: {}", description,
                        key(instance), Failures.describe(e));
            }
        }
    }

    /** One deregistration for {@link #deregisterConcurrently}: a blocking request, bounded by its own timeout. */
    @FunctionalInterface
    protected interface Deregistration {
        /**
         * Removes one instance from the backend.
         *
         * @param instance the instance
         * @throws Exception when it failed
         */
        void deregister(ServiceInstance instance) throws Exception;
    }

    /**
     * Deregisters instances concurrently, at most {@code parallelism} at a time, and waits once for all of them, at
     * most {@code timeout}: closing against an unreachable backend then takes one timeout, not one per instance,
     * and the backend never sees more than {@code parallelism} requests at once (a Consul agent refuses more than
     * its per-client connection limit). The action runs on short-lived daemon threads named
     * {@code roster-<backend>-deregister-<n>}, without {@link #registrationLock()} (it must not take it); those still
     * running at the deadline are interrupted. Each failure is logged with the instance.
     *
     * @param instances the instances
     * @param parallelism the most deregistrations in flight at once, at least 1
     * @param timeout the longest wait for all of them
     * @param action deregisters one instance, blocking until the backend answered or its request timed out
     * @return the instances whose deregistration failed or did not finish in time, in the given order; the
     *     backend may remember them, to finish them when it can
     */
    protected final List<ServiceInstance> deregisterConcurrently(Collection<ServiceInstance> instances,
                                                                 int parallelism, Duration timeout,
                                                                 Deregistration action) {
        List<ServiceInstance> all = new ArrayList<>(instances);
        if (all.isEmpty()) {
            return List.of();
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(parallelism, all.size())),
                new DaemonThreadFactory("roster-" + backendName() + "-deregister"));
        List<Future<Boolean>> results = new ArrayList<>(all.size());
        try {
            for (ServiceInstance instance : all) {
                results.add(pool.submit(() -> {
                    try {
                        action.deregister(instance);
                        return true;
                    } catch (InterruptedException e) {
                        return false; // abandoned at the deadline: counted in the summary below
                    } catch (Exception e) {
                        LOG.warn("{}: deregistering {} failed, it will expire by itself: {}", description,
                                key(instance), Failures.describe(e));
                        return false;
                    }
                }));
            }
            pool.shutdown();
            if (!pool.awaitTermination(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                long running = results.stream().filter(r -> !r.isDone()).count();
                LOG.warn("{}: {} deregistration(s) still running after {} ms are abandoned; those instances will "
                        + "expire by themselves", description, running, timeout.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            pool.shutdownNow();
        }
        List<ServiceInstance> left = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            Future<Boolean> result = results.size() > i ? results.get(i) : null;
            if (result == null || !result.isDone() || result.isCancelled() || !Boolean.TRUE.equals(done(result))) {
                left.add(all.get(i));
            }
        }
        return left;
    }

    private static Boolean done(Future<Boolean> result) {
        try {
            return result.get(0, TimeUnit.NANOSECONDS);
        } catch (Exception e) {
            return false;
        }
    }

    /** The backend's short name for thread names: {@code consul} for {@code ConsulRegistry}. */
    private String backendName() {
        String name = getClass().getSimpleName().replace("Registry", "").toLowerCase(Locale.ROOT);
        return name.isEmpty() ? "registry" : name;
    }

    /**
     * How long a second {@link #close()} (a shutdown hook racing the main thread) waits for the first to finish
     * before it returns anyway. Backends return their own bound, about what deregistering everything and
     * {@link #shutdown()} may take (such as twice the request timeout); the default is 5 s.
     *
     * @return a positive duration
     */
    protected Duration closeTimeout() {
        return Duration.ofSeconds(5);
    }

    @Override
    public final void register(ServiceInstance instance) {
        requireInstance(instance);
        // An instance read from a registry is built leniently; what this process writes obeys every rule.
        ServiceInstance.requireWritable(instance);
        registrationLock.lock();
        try {
            ensureOpen();
            String key = key(instance);
            try {
                doRegister(instance, registered.get(key));
            } catch (Exception e) {
                throw failure("register " + key, e);
            }
            registered.put(key, instance);
        } finally {
            registrationLock.unlock();
        }
    }

    @Override
    public final void deregister(ServiceInstance instance) {
        requireInstance(instance);
        registrationLock.lock();
        try {
            if (closed) {
                return; // close() deregistered everything already
            }
            boolean owned = registered.remove(key(instance)) != null;
            try {
                doDeregister(instance, owned);
            } catch (Exception e) {
                throw failure("deregister " + key(instance), e);
            }
        } finally {
            registrationLock.unlock();
        }
    }

    @Override
    public final List<ServiceInstance> getService(String name) {
        ServiceInstance.requireReadableName(name);
        ensureOpen();
        try {
            List<ServiceInstance> found = new ArrayList<>(doGetService(name));
            found.sort(Comparator.comparing(ServiceInstance::id));
            return List.copyOf(found);
        } catch (Exception e) {
            RegistryException failure = failure("read service '" + name + "'", e);
            Optional<List<ServiceInstance>> cached = failure instanceof RegistryUnavailableException
                    ? hub.current(name) : Optional.empty();
            if (cached.isPresent()) {
                LOG.debug("{}: unavailable, serving the watched list of '{}': {}", description, name,
                        failure.getMessage());
                return cached.get();
            }
            throw failure;
        }
    }

    @Override
    public final Watcher watch(String name) {
        ServiceInstance.requireReadableName(name);
        ensureOpen();
        try {
            return hub.watch(name);
        } catch (Exception e) {
            throw failure("watch service '" + name + "'", e);
        }
    }

    @Override
    public final List<String> services() {
        ensureOpen();
        try {
            return List.copyOf(new TreeSet<>(doServices()));
        } catch (Exception e) {
            throw failure("list services", e);
        }
    }

    /**
     * Closes the registry. A second call, from any thread, waits until the first has finished (at most
     * {@link #closeTimeout()}), so that a shutdown hook does not let the JVM halt while the main thread is still
     * deregistering.
     */
    @Override
    public final void close() {
        close(true);
    }

    /**
     * Closes without deregistering, as a crashed process would: watchers close and {@link #shutdown()} runs, but
     * the registrations stay in the backend until their lease, session or TTL runs out. For tests that simulate a
     * crash, and for backends that offer to leave instances behind on shutdown.
     */
    protected final void abandon() {
        close(false);
    }

    private void close(boolean deregister) {
        Thread me = Thread.currentThread();
        if (!closer.compareAndSet(null, me)) {
            awaitClose(me);
            return;
        }
        try {
            registrationLock.lock();
            try {
                closed = true;
                try {
                    hub.close();
                } catch (Exception e) {
                    LOG.warn("{}: closing watchers failed: {}", description, Failures.describe(e));
                }
                List<ServiceInstance> mine = new ArrayList<>(registered.values());
                registered.clear();
                if (deregister && !mine.isEmpty()) {
                    deregisterAll(mine);
                }
            } catch (Exception e) {
                LOG.warn("{}: deregistering on close failed: {}", description, Failures.describe(e));
            } finally {
                registrationLock.unlock();
            }
        } finally {
            // Even after an Error: threads and clients are released, and later close() calls stop waiting.
            try {
                shutdown();
            } catch (Exception e) {
                LOG.warn("{}: shutdown failed: {}", description, Failures.describe(e));
            } finally {
                closeDone.countDown();
            }
        }
    }

    /** A later close() waits for the first; the closing thread itself (a callback during close) does not. */
    private void awaitClose(Thread me) {
        if (closer.get() == me) {
            return;
        }
        Duration bound = closeTimeout();
        try {
            if (!closeDone.await(bound.toNanos(), TimeUnit.NANOSECONDS)) {
                LOG.warn("{}: close() by another thread still running after {} ms; returning without it",
                        description, bound.toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void requireInstance(ServiceInstance instance) {
        if (instance == null) {
            throw new InvalidInstanceException("instance", "must not be null", "");
        }
    }

    /**
     * Tells whether {@link #close()} has begun.
     *
     * @return true once closing
     */
    protected final boolean isClosed() {
        return closed;
    }

    /**
     * Throws when the registry is closed.
     *
     * @throws RegistryClosedException when closed
     */
    protected final void ensureOpen() {
        if (closed) {
            throw new RegistryClosedException(description + " is closed");
        }
    }

    /**
     * Returns the lock that serialises registrations. Hold it while re-registering in the background, and check
     * {@link #isClosed()} and {@link #registrations()} after taking it.
     *
     * @return the lock
     */
    protected final ReentrantLock registrationLock() {
        return registrationLock;
    }

    /**
     * Returns what this registry has registered and not deregistered.
     *
     * @return a snapshot copy; read it under {@link #registrationLock()} to act on it safely
     */
    protected final List<ServiceInstance> registrations() {
        registrationLock.lock();
        try {
            return new ArrayList<>(registered.values());
        } finally {
            registrationLock.unlock();
        }
    }

    /**
     * Tells whether an instance (by name and id) is currently registered through this registry.
     *
     * @param instance the instance
     * @return true when registered and not deregistered
     */
    protected final boolean isRegistered(ServiceInstance instance) {
        registrationLock.lock();
        try {
            return registered.containsKey(key(instance));
        } finally {
            registrationLock.unlock();
        }
    }

    /**
     * Returns the description given at construction.
     *
     * @return such as {@code etcd at 10.0.0.1:2379}
     */
    protected final String description() {
        return description;
    }

    /**
     * Wraps a backend failure in the right exception type, naming this registry.
     *
     * @param action what was attempted, such as {@code register greeter/1}
     * @param cause the failure
     * @return a {@link RegistryUnavailableException}, or {@code cause} itself when it is a
     *     {@link RegistryException} already
     */
    protected final RegistryException unavailable(String action, Throwable cause) {
        if (cause instanceof RegistryException) {
            return (RegistryException) cause;
        }
        return new RegistryUnavailableException(action + " failed: " + description + " is unavailable ("
                + Failures.describe(cause) + ")", cause);
    }

    /**
     * Wraps any backend failure in the right exception type, naming this registry and the action: what the public
     * methods do with anything a backend throws. A {@link RegistryException} is returned as is; any other failure
     * while the registry is closing becomes a {@link RegistryClosedException}; otherwise see
     * {@link Failures#wrap} ({@link RegistryUnavailableException} for I/O-like failures).
     *
     * @param action what was attempted, such as {@code register greeter/1}
     * @param cause the failure
     * @return the exception to throw
     */
    protected final RegistryException failure(String action, Throwable cause) {
        if (cause instanceof RegistryException) {
            return (RegistryException) cause;
        }
        if (closed) {
            if (cause instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return new RegistryClosedException(action + " failed: " + description + " is closed", cause);
        }
        return Failures.wrap(action, description, cause);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "{" + description + (closed ? ", closed" : "") + "}";
    }
}
