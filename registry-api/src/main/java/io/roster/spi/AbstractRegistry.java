package io.roster.spi;

import io.roster.Registry;
import io.roster.RegistryClosedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
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
 *   <li>the close sequence: watchers, then deregistration, then {@link #shutdown()}.</li>
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
    protected Collection<String> doServices() {
        // TEMPORARY while the backends implement it (issue 13); made abstract once every backend does.
        throw new UnsupportedOperationException("services() is not implemented by " + description);
    }

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
     * Deregisters everything on close. The default calls {@link #doDeregister} for each instance; a backend that
     * can do it in one call (revoking an etcd lease, closing a ZooKeeper session) overrides this.
     * Called under {@link #registrationLock()}.
     *
     * @param instances what this registry registered
     */
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        for (ServiceInstance instance : instances) {
            try {
                doDeregister(instance, true);
            } catch (RuntimeException e) {
                LOG.warn("{}: deregistering {} on close failed, it will expire by itself: {}", description,
                        key(instance), e.toString());
            }
        }
    }

    @Override
    public final void register(ServiceInstance instance) {
        Objects.requireNonNull(instance, "instance");
        // An instance read from a registry is built leniently; what this process writes obeys every rule.
        ServiceInstance.requireWritable(instance);
        registrationLock.lock();
        try {
            ensureOpen();
            String key = key(instance);
            doRegister(instance, registered.get(key));
            registered.put(key, instance);
        } finally {
            registrationLock.unlock();
        }
    }

    @Override
    public final void deregister(ServiceInstance instance) {
        Objects.requireNonNull(instance, "instance");
        registrationLock.lock();
        try {
            if (closed) {
                return; // close() deregistered everything already
            }
            boolean owned = registered.remove(key(instance)) != null;
            doDeregister(instance, owned);
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
            found.sort(java.util.Comparator.comparing(ServiceInstance::id));
            return List.copyOf(found);
        } catch (RegistryUnavailableException e) {
            Optional<List<ServiceInstance>> cached = hub.current(name);
            if (cached.isPresent()) {
                LOG.debug("{}: unavailable, serving the watched list of '{}': {}", description, name,
                        e.getMessage());
                return cached.get();
            }
            throw e;
        }
    }

    @Override
    public final Watcher watch(String name) {
        ServiceInstance.requireReadableName(name);
        ensureOpen();
        return hub.watch(name);
    }

    @Override
    public final List<String> services() {
        ensureOpen();
        return List.copyOf(new java.util.TreeSet<>(doServices()));
    }

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
        if (closed) {
            return;
        }
        registrationLock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            hub.close();
            List<ServiceInstance> mine = new ArrayList<>(registered.values());
            registered.clear();
            if (deregister && !mine.isEmpty()) {
                deregisterAll(mine);
            }
        } catch (RuntimeException e) {
            LOG.warn("{}: deregistering on close failed: {}", description, e.toString());
        } finally {
            registrationLock.unlock();
            try {
                shutdown();
            } catch (RuntimeException e) {
                LOG.warn("{}: shutdown failed: {}", description, e.toString());
            }
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
                + cause + ")", cause);
    }

    private static String key(ServiceInstance instance) {
        return instance.name() + "/" + instance.id();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "{" + description + (closed ? ", closed" : "") + "}";
    }
}
