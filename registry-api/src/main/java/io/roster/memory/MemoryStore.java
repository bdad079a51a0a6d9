package io.roster.memory;

import io.roster.ServiceInstance;
import io.roster.spi.DaemonThreadFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * The shared state behind every {@code mem://<name>} registry of one name in this JVM: instances attached to
 * leases, as in etcd. A registry renews its lease; one that stops renewing (killed) loses its instances when the
 * lease runs out. Listeners get the full list of a service after every change, under the store's lock, so in
 * order. The store lives while a registry is open on it (the scheduler thread with it); its data lives as long
 * as the JVM, like a server's.
 */
final class MemoryStore {
    private static final Map<String, MemoryStore> STORES = new ConcurrentHashMap<>();

    private final String name;
    private final Map<String, Map<String, Entry>> services = new HashMap<>();
    private final Map<Long, Long> leaseDeadlines = new HashMap<>(); // lease -> System.nanoTime() deadline
    private final Map<String, List<Consumer<List<ServiceInstance>>>> listeners = new HashMap<>();
    private long nextLease = 1;
    private int users;
    private ScheduledExecutorService scheduler;

    private MemoryStore(String name) {
        this.name = name;
    }

    static MemoryStore acquire(String name) {
        MemoryStore store = STORES.computeIfAbsent(name, MemoryStore::new);
        synchronized (store) {
            if (store.users++ == 0) {
                store.scheduler = DaemonThreadFactory.scheduler("roster-mem-" + name);
            }
        }
        return store;
    }

    synchronized void release() {
        if (--users == 0) {
            scheduler.shutdownNow();
            scheduler = null;
        }
    }

    synchronized ScheduledExecutorService scheduler() {
        return scheduler;
    }

    String name() {
        return name;
    }

    synchronized long grant(long ttlNanos) {
        long lease = nextLease++;
        leaseDeadlines.put(lease, System.nanoTime() + ttlNanos);
        return lease;
    }

    /**
     * Renews a lease, as an etcd KeepAlive does: a lease that is gone, or past its deadline and not reaped yet, is
     * dead (its instances go now) and stays dead; the holder must grant a new one and put its instances again.
     *
     * @return whether the lease was alive and is renewed
     */
    synchronized boolean renew(long lease, long ttlNanos) {
        Long deadline = leaseDeadlines.get(lease);
        long now = System.nanoTime();
        if (deadline != null && now - deadline > 0) {
            revoke(lease);
            return false;
        }
        if (deadline == null) {
            return false;
        }
        leaseDeadlines.put(lease, now + ttlNanos);
        return true;
    }

    /** Drops every expired lease and its instances; called by each registry's renewal tick. */
    synchronized void expire() {
        long now = System.nanoTime();
        leaseDeadlines.entrySet().removeIf(e -> now - e.getValue() > 0);
        List<String> changed = new ArrayList<>();
        services.forEach((service, entries) -> {
            if (entries.values().removeIf(entry -> !leaseDeadlines.containsKey(entry.lease))) {
                changed.add(service);
            }
        });
        changed.forEach(this::changed);
    }

    synchronized void revoke(long lease) {
        leaseDeadlines.remove(lease);
        expire();
    }

    synchronized void put(ServiceInstance instance, long lease) {
        services.computeIfAbsent(instance.name(), k -> new LinkedHashMap<>())
                .put(instance.id(), new Entry(instance, lease));
        changed(instance.name());
    }

    synchronized void remove(String service, String id) {
        Map<String, Entry> entries = services.get(service);
        if (entries != null && entries.remove(id) != null) {
            changed(service);
        }
    }

    synchronized List<ServiceInstance> get(String service) {
        Map<String, Entry> entries = services.get(service);
        List<ServiceInstance> result = new ArrayList<>();
        if (entries != null) {
            long now = System.nanoTime();
            for (Entry entry : entries.values()) {
                Long deadline = leaseDeadlines.get(entry.lease);
                if (deadline != null && now - deadline <= 0) {
                    result.add(entry.instance);
                }
            }
        }
        return result;
    }

    synchronized List<String> services() {
        List<String> names = new ArrayList<>();
        services.keySet().forEach(service -> {
            if (!get(service).isEmpty()) {
                names.add(service);
            }
        });
        return names;
    }

    synchronized Runnable subscribe(String service, Consumer<List<ServiceInstance>> listener) {
        listeners.computeIfAbsent(service, k -> new ArrayList<>()).add(listener);
        listener.accept(get(service));
        return () -> {
            synchronized (this) {
                List<Consumer<List<ServiceInstance>>> list = listeners.get(service);
                if (list != null) {
                    list.remove(listener);
                    if (list.isEmpty()) {
                        listeners.remove(service);
                    }
                }
            }
        };
    }

    private void changed(String service) {
        Map<String, Entry> entries = services.get(service);
        if (entries != null && entries.isEmpty()) {
            services.remove(service);
        }
        List<Consumer<List<ServiceInstance>>> list = listeners.get(service);
        if (list != null) {
            List<ServiceInstance> current = get(service);
            for (Iterator<Consumer<List<ServiceInstance>>> it = new ArrayList<>(list).iterator(); it.hasNext(); ) {
                it.next().accept(current);
            }
        }
    }

    private static final class Entry {
        final ServiceInstance instance;
        final long lease;

        Entry(ServiceInstance instance, long lease) {
            this.instance = instance;
            this.lease = lease;
        }
    }
}
